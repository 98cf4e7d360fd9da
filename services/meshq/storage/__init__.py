"""Room storage: files per room on the server's filesystem, served as meshq.v1.StorageService."""
