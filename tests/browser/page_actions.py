"""What several browser tests do to a page: type over a box as a person does, click a map's
cell, and wait for a condition with a message that says what was awaited."""

import time

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys

# A click on the map graph at data coordinates (arguments[0], arguments[1]) of its main axes,
# as a person's mouse makes it (Plotly listens on its drag layer): driver.execute_script(CLICK_CELL, x, y)
CLICK_CELL = """
const el = document.querySelector('#map-graph .js-plotly-plot');
const xa = el._fullLayout.xaxis, ya = el._fullLayout.yaxis;
const drag = el.querySelector('.nsewdrag');
const box = drag.getBoundingClientRect();
const x = box.left + xa.d2p(arguments[0]), y = box.top + ya.d2p(arguments[1]);
for (const type of ['mousemove', 'mousedown', 'mouseup', 'click']) {
    const buttons = type === 'mousedown' ? 1 : 0;
    drag.dispatchEvent(new MouseEvent(type, {clientX: x, clientY: y, bubbles: true, buttons: buttons}));
}
"""


def type_over(dash_duo, control: str, text: str) -> None:
    """Select what the box ``control`` holds and type ``text`` over it, then Tab (no clearing first)."""
    box = dash_duo.find_element(f"#{control}")
    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text + Keys.TAB)


def wait_until(condition, timeout: float, what: str) -> None:
    """Until ``condition()`` holds; after ``timeout`` seconds, fail naming ``what``. An element
    the page replaced while the condition read it (Dash re-rendering after a navigation) means
    "not yet", as in Selenium's own waits: it failed a fresh-clone run once."""
    deadline = time.time() + timeout
    while not _holds(condition):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _holds(condition) -> bool:
    try:
        return bool(condition())
    except StaleElementReferenceException:
        return False
