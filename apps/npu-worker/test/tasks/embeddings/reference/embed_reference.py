"""Command-line entry of the embeddings reference: one JSON request on stdin, one JSON answer on stdout.

Request:  {"vocab": path, "model": path | null, "texts": [str], "prefix": str, "sequence_length": int,
           "pooling": "mean" | "cls", "normalize": bool, "heads": int, "eps": float, "hidden": bool}
Answer:   {"ids": [[int]], "embeddings": [[float]] | null, "hidden": [[[float]]] | null}
With "model": null only the tokenizer runs (fast token-id comparisons); "hidden": true adds every text's
token vectors [tokens, hidden] (checks the encoder alone, before pooling).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wordpiece_reference import BertWordPieceReference  # noqa: E402


def main():
    request = json.load(sys.stdin)
    tokenizer = BertWordPieceReference(request["vocab"])
    ids = [tokenizer.encode(request.get("prefix", "") + text, request["sequence_length"]) for text in request["texts"]]
    embeddings = None
    hidden = None
    if request.get("model"):
        from bert_reference import BertReference

        model = BertReference(request["model"], request["heads"], request["eps"])
        embeddings = [model.embed(i, request["pooling"], request["normalize"]).tolist() for i in ids]
        if request.get("hidden"):
            hidden = [model.hidden_states(i).tolist() for i in ids]
    json.dump({"ids": ids, "embeddings": embeddings, "hidden": hidden}, sys.stdout)


if __name__ == "__main__":
    main()
