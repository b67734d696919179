"""FireTwin services: the FastAPI application, its routers, workflows and the CLI."""
