# Copyright (c) mmaims contributors. All rights reserved.
"""The drill-down page (demo/webui.py) in a real browser.

The page is served in-process from the tiny seeded model of
tests/conftest.py; the entity to click and its parts are computed first
with the page's own class (:class:`DrillDownApp`), then headless Chromium
(Selenium, Debian's ``chromium`` and ``chromium-driver``) uploads
demo/demo.png, clicks inside that entity on the drawn image, presses
"Drill down" and must find those parts listed on the page. Then a brushed
stroke is drilled into, and a drill-down without a selection must be
refused with a message.

Environment:

- ``MMAIMS_SKIP_BROWSER_TESTS=1``: skip (the only way to skip: a missing
  browser or driver is a failure that says how to install them).
- ``MMAIMS_CHROMIUM`` / ``MMAIMS_CHROMEDRIVER``: browser and driver paths
  (default: ``chromium`` / ``chromedriver`` on ``PATH``).
- ``MMAIMS_WEBUI_CONFIG`` + ``MMAIMS_WEBUI_CHECKPOINT``: serve this model
  instead of the tiny one (e.g. the trained checkpoint, for the README
  screenshot).
- ``MMAIMS_SCREENSHOT_DIR``: also copy the screenshot there as
  ``webui.png``.
"""
import importlib.util
import os
import os.path as osp
import shutil
import socket

import cv2
import numpy as np
import pytest

TESTS = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO = osp.dirname(TESTS)
WEBUI = osp.join(REPO, 'demo', 'webui.py')
DEMO_IMAGE = osp.join(REPO, 'demo', 'demo.png')
TINY_CONFIG = osp.join(TESTS, 'data', 'configs', 'aims_tiny.py')
INSTALL_HINT = ('install them with `apt-get install -y chromium '
                'chromium-driver` (Debian; or point MMAIMS_CHROMIUM and '
                'MMAIMS_CHROMEDRIVER at a Chrome/Chromium and its '
                'chromedriver), or set MMAIMS_SKIP_BROWSER_TESTS=1 to skip '
                'this test')
WAIT_S = 40

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get('MMAIMS_SKIP_BROWSER_TESTS', '') not in ('', '0'),
        reason='MMAIMS_SKIP_BROWSER_TESTS is set: the browser test of the '
        'drill-down page is skipped'),
    # Gradio's queue calls pandas options that pandas 3 deprecates
    pytest.mark.filterwarnings(
        "ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings('ignore:The copy keyword is deprecated'),
]


def _binary(env: str, names) -> str:
    path = os.environ.get(env)
    if path:
        if not (osp.isfile(path) and os.access(path, os.X_OK)):
            pytest.fail(f'{env}={path} is not an executable file; '
                        f'{INSTALL_HINT}')
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f'the browser test needs {" or ".join(names)} on PATH: '
                f'{INSTALL_HINT}')


@pytest.fixture(scope='module')
def browser_deps():
    """gradio, selenium, the browser and its driver; a failure, not a
    skip, when one is missing."""
    try:
        import gradio  # noqa: F401
        import selenium  # noqa: F401
    except ImportError as e:
        pytest.fail(f'the browser test needs gradio and selenium ({e}): '
                    'pip install -r requirements/demo.txt, or set '
                    'MMAIMS_SKIP_BROWSER_TESTS=1 to skip it')
    return dict(
        chromium=_binary('MMAIMS_CHROMIUM',
                         ('chromium', 'chromium-browser', 'google-chrome')),
        chromedriver=_binary('MMAIMS_CHROMEDRIVER', ('chromedriver', )))


@pytest.fixture(scope='module')
def webui():
    spec = importlib.util.spec_from_file_location('webui', WEBUI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def app(webui, tiny_checkpoint, tmp_path_factory):
    config = os.environ.get('MMAIMS_WEBUI_CONFIG')
    checkpoint = os.environ.get('MMAIMS_WEBUI_CHECKPOINT')
    if not (config and checkpoint):
        config, checkpoint = TINY_CONFIG, tiny_checkpoint
    return webui.DrillDownApp.from_config(
        config,
        checkpoint,
        device='cpu',
        out_dir=str(tmp_path_factory.mktemp('webui_downloads')))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def known_entity(app):
    """The entity with the most parts after drill-down, a pixel well
    inside the region where it is the smallest shown entity (a click there
    selects it) and its parts, from the page's own class."""
    probe = app.fork()
    view = probe.load_image(DEMO_IMAGE)
    assert view.severity != 'error', view.message
    entities = probe.shown_masks('entity')
    assert entities, 'the model shows no entity on demo/demo.png'
    areas = {m['id']: int(probe.mask_array(m['id']).sum()) for m in entities}
    height, width = probe.session.shape
    # the entity a click selects at each pixel (the app's rule: smallest
    # area, then higher score, then lower id)
    ranked = sorted(
        entities, key=lambda m: (areas[m['id']], -m['score'], m['id']))
    chosen = np.zeros((height, width), dtype=np.int64)
    for mask in reversed(ranked):
        chosen[probe.mask_array(mask['id'])] = mask['id']
    best = None
    for mask in sorted(entities, key=lambda m: -m['score']):
        region = (chosen == mask['id']).astype(np.uint8)
        # the most interior pixel: a click a pixel off still lands in it
        depth = cv2.distanceTransform(np.pad(region, 1), cv2.DIST_L2, 3)[1:-1,
                                                                         1:-1]
        if depth.max() < 2:
            continue
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        view = probe.click(x + 0.5, y + 0.5)
        assert probe.selected['id'] == mask['id'], view.message
        view = probe.drill_down()
        assert view.severity != 'error', view.message
        children = probe.drill['children']
        if children and (best is None or len(children) > len(best['parts'])):
            best = dict(
                entity=mask['id'],
                x=int(x),
                y=int(y),
                parts=[m['id'] for m in children],
                scores=[f'{m["score"]:.4f}' for m in children],
                level=probe.drill['prompt']['level'],
                scale=probe.display_scale)
    if best is None:
        pytest.fail('no entity of the served model has a clickable region '
                    'and parts after drill-down on demo/demo.png')
    return best


@pytest.fixture
def driver(browser_deps, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser_deps['chromium']
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                '--disable-gpu', '--window-size=1400,1500',
                f'--user-data-dir={tmp_path / "chromium-profile"}'):
        options.add_argument(arg)
    # the explicit driver path keeps Selenium Manager (which downloads
    # browsers and drivers) out of it
    service = Service(executable_path=browser_deps['chromedriver'])
    drv = webdriver.Chrome(service=service, options=options)
    try:
        yield drv
    finally:
        drv.quit()


def test_drill_down_in_browser(webui, app, driver, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    expected = known_entity(app)
    port = free_port()
    page = webui.launch_page(app, '127.0.0.1', port, block=False, quiet=True)
    try:
        wait = WebDriverWait(driver, WAIT_S)
        driver.get(f'http://127.0.0.1:{port}/')
        upload = wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, '#upload input[type="file"]')))
        upload.send_keys(DEMO_IMAGE)

        # the one-step result: the overlay picture and the tree
        wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR,
                 f'#hierarchy [data-mask-id="{expected["entity"]}"]')))
        image = wait.until(lambda d: next((img for img in d.find_elements(
            By.CSS_SELECTOR, '#overlay img') if d.execute_script(
                'return arguments[0].complete && '
                'arguments[0].naturalWidth', img)), None))
        driver.execute_script('arguments[0].scrollIntoView({block: "center"})',
                              image)
        box = driver.execute_script(
            'const r = arguments[0].getBoundingClientRect();'
            'return [r.width, r.height, arguments[0].naturalWidth,'
            ' arguments[0].naturalHeight];', image)
        width, height, natural_w, natural_h = box
        height_px, width_px = cv2.imread(DEMO_IMAGE).shape[:2]
        assert (natural_w, natural_h) == (width_px * expected['scale'],
                                          height_px * expected['scale'])
        # where the pixel is drawn: Gradio fits the picture in the element
        # (object-fit: contain, never enlarged) and reads a click back
        # the same way
        fit = min(width / natural_w, height / natural_h, 1)
        off_x = (width - natural_w * fit) / 2
        off_y = (height - natural_h * fit) / 2
        px = off_x + (expected['x'] + 0.5) * expected['scale'] * fit
        py = off_y + (expected['y'] + 0.5) * expected['scale'] * fit
        ActionChains(driver).move_to_element_with_offset(
            image, round(px - width / 2),
            round(py - height / 2)).click().perform()
        wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, '#selection .aims-selection'
                 f'[data-mask-id="{expected["entity"]}"]')),
            message=f'clicking image pixel ({expected["x"]}, '
            f'{expected["y"]}) did not select entity {expected["entity"]}')

        driver.find_element(By.CSS_SELECTOR, '#drill-down').click()
        drill = wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, '#drill-result .aims-drill'
                 f'[data-parent-id="{expected["entity"]}"]')),
            message=f'no drill-down of entity {expected["entity"]} shown')
        listed = [
            int(li.get_attribute('data-mask-id'))
            for li in drill.find_elements(By.CSS_SELECTOR, 'li[data-mask-id]')
        ]
        assert listed == expected['parts']
        # the scores tell this entity's parts from another prompt's
        assert [
            li.get_attribute('data-score')
            for li in drill.find_elements(By.CSS_SELECTOR, 'li[data-mask-id]')
        ] == expected['scores']
        assert drill.get_attribute('data-level') == expected['level'] == \
            'part'
        assert int(drill.get_attribute('data-count')) == \
            len(expected['parts'])
        assert 'split by the part decoder' in driver.find_element(
            By.CSS_SELECTOR, '#status').text
        # the drill-down picture is there too
        wait.until(lambda d: d.execute_script(
            'const i = document.querySelector("#drill-image img");'
            'return i && i.complete && i.naturalWidth'))

        driver.execute_script('window.scrollTo(0, 0)')
        full = driver.execute_script(
            'return document.documentElement.scrollHeight')
        driver.set_window_size(1400, min(max(int(full) + 40, 900), 2400))
        shot = tmp_path / 'webui.png'
        assert driver.save_screenshot(str(shot))
        assert cv2.imread(str(shot)) is not None
        out_dir = os.environ.get('MMAIMS_SCREENSHOT_DIR')
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            shutil.copy(shot, osp.join(out_dir, 'webui.png'))

        # a brushed region reaches the model as a mask
        driver.find_element(By.CSS_SELECTOR, '#own-region > button').click()
        canvas = wait.until(lambda d: next((c for c in d.find_elements(
            By.CSS_SELECTOR, '#brush canvas') if c.size['width'] > 0), None))
        driver.execute_script('arguments[0].scrollIntoView({block: "center"})',
                              canvas)
        ActionChains(driver).move_to_element(
            canvas).click_and_hold().move_by_offset(20, 5).move_by_offset(
                5, 20).release().perform()
        driver.find_element(By.CSS_SELECTOR, '#drill-brush').click()
        wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR,
                 '#drill-result .aims-drill[data-source="brush"]')))
        assert 'brush region split by the part decoder' in \
            driver.find_element(By.CSS_SELECTOR, '#status').text

        # bad input is a message on the page, not a trace: showing parts
        # clears the entity selection, and a drill-down without one is
        # refused
        driver.find_element(
            By.XPATH,
            '//*[@id="level"]//label[normalize-space()="part"]').click()
        wait.until(
            EC.presence_of_element_located(
                (By.CSS_SELECTOR, '#selection .aims-empty')))
        driver.find_element(By.CSS_SELECTOR, '#drill-down').click()
        wait.until(
            EC.text_to_be_present_in_element((By.CSS_SELECTOR, '#status'),
                                             'Select a mask first'))
        assert 'Traceback' not in driver.page_source
    finally:
        page.close()
