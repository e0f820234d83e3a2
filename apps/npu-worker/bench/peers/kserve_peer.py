"""The stack the worker replaces, written as a competent version of it, for `pnpm bench:peers`.

FastAPI on one uvicorn worker (uvloop event loop, httptools parser), one ONNX Runtime session per model
(intra_op_num_threads=1) run from a 2-thread pool per model (the worker's parallelism: 2 instances x 1
thread), KServe v2 JSON tensors. `--json stdlib` parses and writes with the standard library's json
(FastAPI's default); `--json orjson` with orjson (numpy outputs serialised natively). No pydantic models on
the tensor path: validating big `data` arrays that way would be slow, and a competent service skips it.

Runs inside the Debian trixie chroot built by python-rootfs.sh. Prints {"port": N} once listening.
"""

import argparse
import asyncio
import json
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

NUMPY_OF = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}
DATATYPE_OF = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
}


class Model:
    """One ORT session and the 2-thread pool that runs it."""

    def __init__(self, name: str, path: str, instances: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.name = name
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [(o.name, DATATYPE_OF[o.type]) for o in self.session.get_outputs()]
        self.pool = ThreadPoolExecutor(max_workers=instances, thread_name_prefix=f"ort-{name}")


def load_models(models_dir: str, instances: int) -> dict:
    models = {}
    for name in sorted(os.listdir(models_dir)):
        path = os.path.join(models_dir, name, "1", "model.onnx")
        if os.path.isfile(path):
            models[name] = Model(name, path, instances)
    return models


def bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def build_app(models: dict, codec: str) -> FastAPI:
    app = FastAPI()
    loads = orjson.loads if codec == "orjson" else json.loads

    def answer(body: dict) -> Response:
        if codec == "orjson":
            return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")
        return Response(json.dumps(body), media_type="application/json")

    @app.get("/health")
    async def health():
        return {"status": "healthy", "models": sorted(models)}

    @app.get("/v2/health/ready")
    async def ready():
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request):
        model = models.get(name)
        if model is None:
            return JSONResponse({"error": f"model {name} not found"}, status_code=404)
        try:
            body = loads(await request.body())
        except ValueError as error:
            return bad_request(f"body is not JSON: {error}")
        feeds = {}
        for index, tensor in enumerate(body.get("inputs") or []):
            info = model.inputs.get(tensor.get("name"))
            dtype = NUMPY_OF.get(tensor.get("datatype"))
            if info is None or dtype is None:
                return bad_request(f"inputs[{index}]: unknown input or datatype")
            shape = tensor.get("shape")
            try:
                array = np.asarray(tensor.get("data"), dtype=dtype).reshape(shape)
            except (TypeError, ValueError) as error:
                return bad_request(f"inputs[{index}].data: {error}")
            feeds[info.name] = array
        if set(feeds) != set(model.inputs):
            return bad_request(f"inputs: expected {sorted(model.inputs)}")
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(model.pool, model.session.run, None, feeds)
        outputs = []
        for (out_name, datatype), value in zip(model.outputs, results):
            data = value.ravel() if codec == "orjson" else value.ravel().tolist()
            outputs.append({"name": out_name, "datatype": datatype, "shape": list(value.shape), "data": data})
        return answer({"model_name": name, "model_version": "1", "outputs": outputs})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--json", choices=["stdlib", "orjson"], default="stdlib")
    parser.add_argument("--instances", type=int, default=2)
    args = parser.parse_args()
    models = load_models(args.models, args.instances)
    app = build_app(models, args.json)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(json.dumps({"port": sock.getsockname()[1], "models": sorted(models)}), flush=True)
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
