"""completion: depth-completion networks, training, quantization, export and fast CPU inference (uses torch)."""
