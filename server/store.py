"""An in-memory, thread-safe store of users."""

import threading
import uuid
from typing import Any

User = dict[str, Any]


class UserStore:
    """Users kept in a dict in insertion order, guarded by one lock.

    Limitation: the users live in one process's memory, so several server
    processes (gunicorn workers) each have their own users; the demo runs one
    worker with threads for that reason.
    """

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()

    def create(self, name: str, email: str) -> User:
        """Add a user with a new uuid4 id and return it."""
        user = {"id": str(uuid.uuid4()), "name": name, "email": email}
        with self._lock:
            self._users[user["id"]] = user
        return dict(user)

    def get(self, user_id: str) -> User | None:
        """Return the user with this id, or None."""
        with self._lock:
            user = self._users.get(user_id)
        return None if user is None else dict(user)

    def list(
        self, limit: int, offset: int, name: str | None = None
    ) -> tuple[list[User], int]:
        """Return one page of users (oldest first) and how many match in all."""
        with self._lock:
            users = list(self._users.values())
        if name:
            needle = name.casefold()
            users = [user for user in users if needle in user["name"].casefold()]
        page = [dict(user) for user in users[offset : offset + limit]]
        return page, len(users)

    def update(self, user_id: str, changes: dict[str, str]) -> User | None:
        """Apply changes to a user and return it, or None if there is none."""
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                return None
            user.update(changes)
            return dict(user)

    def delete(self, user_id: str) -> bool:
        """Remove a user; return whether it existed."""
        with self._lock:
            return self._users.pop(user_id, None) is not None
