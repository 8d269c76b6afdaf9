"""The one error type of the agent's API: becomes an application/problem+json
response with a stable `code` (see agent.py)."""


class ApiError(Exception):
    def __init__(self, status, code, detail):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
