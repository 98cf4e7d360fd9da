"""Server assembly: components, the gRPC server, status mapping, `meshq up`."""
