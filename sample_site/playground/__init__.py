"""The playground app: pages that talk to djws's built-in WebSocket servers."""
