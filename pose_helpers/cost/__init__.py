"""What a model costs: parameters, MACs, memory and latency (:mod:`.bench`), sparse-kernel
timing (:mod:`.sparsity`), and deployment runtimes (:mod:`.deploy`: ONNX Runtime)."""
