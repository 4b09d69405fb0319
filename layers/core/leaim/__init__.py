"""LEAIM shared runtime: the code every Lambda function imports from the core layer."""
