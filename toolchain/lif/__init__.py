"""LIF neurons in continuous time: kernels, closed-form and bracketed threshold crossings, and the exact
event-driven forward pass."""
