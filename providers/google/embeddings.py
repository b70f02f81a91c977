"""OpenAI embeddings requests and answers, translated for Google. Pure: no I/O.

- Gemini API `batchEmbedContents`: one request per input text (`content.parts[0].text`), with
  `outputDimensionality` from `dimensions`; the answer has no token counts, so the gateway counts the
  input itself (o200k_base, marked as an estimate in the usage row).
- Vertex AI `predict`: `instances[].content`, `parameters.outputDimensionality`; each prediction carries
  its `statistics.token_count`.
Token-array input (lists of token ids) means nothing to Google's tokenizers: an unsupported feature,
so another candidate may serve it. `encoding_format: base64` is built here (little-endian float32, as
OpenAI sends it), since Google answers only with floats.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from providers.translation import TranslationError


def input_texts(body: dict[str, Any]) -> list[str]:
    """The request's input as texts; raises TranslationError (unsupported) for token arrays."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else None
    if not texts or not all(isinstance(text, str) for text in texts):
        raise TranslationError("Token-array input to embeddings", unsupported=True)
    return texts


def to_batch_embed_request(body: dict[str, Any], model_path: str) -> dict[str, Any]:
    dimensions = body.get("dimensions")
    requests = []
    for text in input_texts(body):
        request: dict[str, Any] = {"model": model_path, "content": {"parts": [{"text": text}]}}
        if isinstance(dimensions, int):
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def to_predict_request(body: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {"instances": [{"content": text} for text in input_texts(body)]}
    if isinstance(body.get("dimensions"), int):
        request["parameters"] = {"outputDimensionality": body["dimensions"]}
    return request


def vectors_from_batch_embed(data: Any) -> list[list[float]]:
    """Raises ValueError when the answer has no list of vectors."""
    embeddings = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(embeddings, list):
        raise ValueError("no embeddings")
    return [_values(item) for item in embeddings]


def vectors_from_predict(data: Any) -> tuple[list[list[float]], int | None]:
    """The vectors and the summed token count (None when a prediction has none). Raises ValueError."""
    predictions = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(predictions, list):
        raise ValueError("no predictions")
    vectors, tokens = [], 0
    counted = True
    for prediction in predictions:
        embeddings = prediction.get("embeddings") if isinstance(prediction, dict) else None
        vectors.append(_values(embeddings))
        statistics = embeddings.get("statistics") if isinstance(embeddings, dict) else None
        count = statistics.get("token_count") if isinstance(statistics, dict) else None
        if isinstance(count, int | float):
            tokens += int(count)
        else:
            counted = False
    return vectors, tokens if counted else None


def _values(item: Any) -> list[float]:
    values = item.get("values") if isinstance(item, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise ValueError("an embedding without values")
    return values


def openai_embeddings(vectors: list[list[float]], *, model: str, prompt_tokens: int,
                      encoding_format: Any) -> dict[str, Any]:
    """OpenAI's `list` of `embedding` objects, the vectors as floats or base64 (float32, little-endian)."""
    data = [{"object": "embedding", "index": index,
             "embedding": encode_base64(vector) if encoding_format == "base64" else vector}
            for index, vector in enumerate(vectors)]
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
