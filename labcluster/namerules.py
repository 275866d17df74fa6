"""apimachinery's name and label rules (pkg/util/validation): the patterns, their exact
messages, and the label check. Below both the generic validator (validation.py) and the
kinds that validate selectors themselves (networkpolicy.py), so neither imports the other
to share them."""

from __future__ import annotations

import re
from typing import Any

from .errors import FieldError

DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
LABEL_VALUE = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
             "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
             f"'123-abc', regex used for validation is '{DNS1123_LABEL}')")
MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 f"(e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')")
MSG_1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character (e.g. "
            f"'my-name',  or 'abc-123', regex used for validation is '{DNS1035_LABEL}')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, "
                   "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                   "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                   f"'{LABEL_VALUE}')")
MSG_NAME_PART = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                 "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
                 f"'123-abc', regex used for validation is '{QUALIFIED_NAME}')")
MSG_CONFIG_KEY = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                  "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                  "is '[-._a-zA-Z0-9]+')")
MSG_ENV_NAME = ("a valid environment variable name must consist of alphabetic characters, digits, "
                "'_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
                "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
                "'[-._a-zA-Z][-._a-zA-Z0-9]*')")
MSG_PORT = "must be between 1 and 65535, inclusive"
MSG_PORT_NAME = ("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")


def check_labels(labels: Any, path: str, errs: list[FieldError]) -> None:
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if not re.fullmatch(QUALIFIED_NAME, name) or len(name) > 63:
            errs.append(FieldError("Invalid value", path, key, MSG_NAME_PART))
        elif prefix and not re.fullmatch(DNS1123_SUBDOMAIN, prefix):
            errs.append(FieldError("Invalid value", path, key, "prefix part " + MSG_SUBDOMAIN))
        if not isinstance(value, str) or len(value) > 63 or not re.fullmatch(LABEL_VALUE, value):
            detail = ("must be no more than 63 characters" if isinstance(value, str)
                      and len(value) > 63 else MSG_LABEL_VALUE)
            errs.append(FieldError("Invalid value", path, value, detail))
