# Copyright (c) dmt_mm contributors. All rights reserved.
"""Checks of a converter's integer arguments.

Every message names the argument and shows the bad value, so that a bad
command line is one ``error: ...`` line (see ``converter_cli.py``). Standard
library and numpy only.
"""
from typing import List, Optional, Sequence, Union

import numpy as np


def check_int(name: str,
              value,
              minimum: int,
              bound: Optional[str] = None) -> int:
    """``value`` as an int, checked to be an int ``>= minimum``.

    Args:
        name (str): The argument's name in the messages.
        value: The value to check; ``bool`` is refused.
        minimum (int): The smallest allowed value.
        bound (str, optional): How the message says the bound, e.g.
            ``'positive'``. Defaults to ``'>= <minimum>'``.

    Returns:
        int: ``int(value)``.

    Raises:
        TypeError: ``'<name> must be an int, but got <value!r> of type
            <type>'``.
        ValueError: ``'<name> must be <bound>, but got <value>'``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'{name} must be an int, but got {value!r} of type '
                        f'{type(value).__name__}')
    if value < minimum:
        bound = f'>= {minimum}' if bound is None else bound
        raise ValueError(f'{name} must be {bound}, but got {value}')
    return int(value)


def int_list(list_name: str,
             values: Union[int, Sequence[int]],
             minimum: int,
             what: str,
             name: Optional[str] = None) -> List[int]:
    """One int or a sequence of ints as a list, each checked by
    :func:`check_int`, in the given order.

    Args:
        list_name (str): The argument's name (``'seeds'``).
        values (int | Sequence[int]): The value(s).
        minimum (int): The smallest allowed value.
        what (str): What one value is (``'seed'``), for the message of an
            empty list: ``'<list_name> must list at least one <what>'``.
        name (str, optional): The name of one value in the messages of
            :func:`check_int` (``'seed'``). Defaults to ``list_name``.

    Returns:
        list[int]: The values.

    Raises:
        TypeError: If a value is not an int.
        ValueError: If ``values`` is empty or a value is below ``minimum``.
    """
    if isinstance(values, (int, np.integer)):
        values = [values]
    values = [check_int(name or list_name, v, minimum) for v in values]
    if not values:
        raise ValueError(f'{list_name} must list at least one {what}')
    return values
