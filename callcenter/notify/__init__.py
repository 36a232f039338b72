"""The in-process event bus and the WebSocket ``/api/v1/ws`` that carries it to browsers."""
