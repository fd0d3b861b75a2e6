"""Compression methods: sparsity regularizers and Algorithm 1 (:mod:`.regularizers`), and
channel surgery on zeroed channels (:mod:`.surgery`)."""
