"""The inspection service (FastAPI) and browser UI (Gradio) over model bundles."""
