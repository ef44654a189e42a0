"""Built-in plugins: storage backends and notifiers, registered like third-party ones."""
