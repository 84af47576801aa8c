"""The rules of every setting: the specs and their fields, the one user error, the Keras recipes they name, and the network shapes they imply."""
