"""The djws sample site: chat, echo and ping playgrounds on djws's built-in servers."""
