"""Import the built-in backends so they register by name (`hf`, `openai`, `vllm`, `ray`).

Each module imports its heavy dependencies (torch, httpx, vllm, ray) lazily, inside the backend.
"""

from selfmoa.generation import hf, openai_backend, ray_backend, vllm_backend  # noqa: F401
