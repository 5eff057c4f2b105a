"""Step 2 of the pipeline: chunks → embeddings, FAISS and keyword indexes → retrieval."""
