"""The local stack's credentials as secrets on the local endpoint, read by the functions through Secrets Manager.

The stack is given its credentials (the database URL, the PII token key) as environment overrides. None of them
reaches a function's environment: each is put in a secret of moto's Secrets Manager and the function gets the
secret's ARN in the variable it reads in AWS (`SECRET_SETTINGS`), so it reads the value as it would there.

moto's secrets are not kept in the state directory: the stack puts them again on every start and removes them on
stop. A secret's name carries a digest of the stack's state directory, so two stacks of one name in one process
(tests) never read or remove each other's.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from embedded.emulation.aws import physical_name

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

PREFIX = "LEAIM_"
# A credential's variable -> the variable that names the secret holding it, as the functions read them.
SECRET_SETTINGS: Mapping[str, str] = {
    "LEAIM_DATABASE_URL": "LEAIM_DATABASE_SECRET_ARN",
    "LEAIM_PII_TOKEN_KEY": "LEAIM_PII_TOKEN_KEY_SECRET_ARN",
}


class LocalSecrets:
    """The secrets one local stack put on the local endpoint, by name, until `remove()`."""

    def __init__(self, client: Any, *, stack_name: str, state_dir: Path) -> None:
        self._client = client
        self._stack_name = stack_name
        self._instance = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
        self._names: list[str] = []

    def name(self, variable: str) -> str:
        """The secret's name for a credential's variable: `<stack>-database-url-<state dir digest>`."""
        readable = variable.removeprefix(PREFIX).lower().replace("_", "-")
        return physical_name(self._stack_name, f"{readable}-{self._instance}", max_length=512)

    def put(self, variable: str, value: str) -> str:
        """Hold `value` in the variable's secret (created, or given this value if it exists); its ARN."""
        name = self.name(variable)
        try:
            arn = str(self._client.create_secret(Name=name, SecretString=value)["ARN"])
        except self._client.exceptions.ResourceExistsException:
            arn = str(self._client.put_secret_value(SecretId=name, SecretString=value)["ARN"])
        if name not in self._names:
            self._names.append(name)
        return arn

    def settings(self, variables: Mapping[str, str]) -> dict[str, str]:
        """`variables` with each credential replaced by the ARN of the secret now holding it."""
        replaced = {name: value for name, value in variables.items() if name not in SECRET_SETTINGS}
        for name, value in variables.items():
            if name in SECRET_SETTINGS:
                replaced[SECRET_SETTINGS[name]] = self.put(name, value)
        return replaced

    def remove(self) -> None:
        """Delete every secret this stack put, at once (no recovery window: the next start puts them again)."""
        for name in self._names:
            self._client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self._names.clear()
