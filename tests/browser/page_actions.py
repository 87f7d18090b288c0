"""What several browser tests do to a page: type over a box as a person does, and wait for a
condition with a message that says what was awaited."""

import time

from selenium.webdriver.common.keys import Keys


def type_over(dash_duo, control: str, text: str) -> None:
    """Select what the box ``control`` holds and type ``text`` over it, then Tab (no clearing first)."""
    box = dash_duo.find_element(f"#{control}")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text + Keys.TAB)


def wait_until(condition, timeout: float, what: str) -> None:
    """Until ``condition()`` holds; after ``timeout`` seconds, fail naming ``what``."""
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
