"""One interactor per operation, and the ports they need. Imports only broker.entities."""
