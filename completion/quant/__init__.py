"""Quantization: LSQ fake quantization, bit-width plans, budgeted bit allocation, memory accounting."""
