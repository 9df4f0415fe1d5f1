"""What every stage shares: configuration machinery (:mod:`core.config`), the exception tree
(:mod:`core.errors`), content hashes (:mod:`core.hashing`), progress (:mod:`core.progress`), the
working folder's layout (:mod:`core.paths`), the offline model (:mod:`core.models`), the text
encoder and tokenizer two stages use (:mod:`core.encoder`, with its ONNX Runtime path
:mod:`core.onnx_encoder`, and :mod:`core.tokenize`), precision
(:mod:`core.precision`), child processes (:mod:`core.children`) and quieting third-party
output (:mod:`core.chatter`). Import the modules themselves; this index loads nothing.
"""

__all__: list[str] = []
