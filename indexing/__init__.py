"""Step 2 of the pipeline: chunks → embeddings, FAISS and keyword indexes → retrieval."""

import os

# torch runs on an OpenMP pool (documents, and questions when no ONNX export is possible). With OpenMP's
# default spin-waiting, a question took 1.6 s instead of 29 ms whenever another process wanted the CPU
# (measured on 2 cores with a second busy process). Must be set before torch is first imported; an explicit
# setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
