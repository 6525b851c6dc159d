"""The web UI in a real browser: Debian's chromium, headless, driven by Selenium, against a real serve and moto.

A missing browser or driver fails the run (never a skip). Each page's screenshot is saved
under ``docs/_static/ui/`` for ``docs/how-to/dashboard-ui.md``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_support import ACCOUNT, Org, find_aws_cli, run_shown_command, trust_enforcing
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from support import StsProxy, until

from sls_access.link.template import role_name

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "_static" / "ui"
HOSTILE = '<script>"&amp;'


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"the browser tests need {CHROMIUM} and {CHROMEDRIVER} (Debian: chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,1000"]:
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as exc:
        pytest.fail(f"chromium did not start: {exc.msg}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium", ignore_errors=True)


@pytest.fixture(scope="session")
def aws_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real AWS CLI (v1), which runs the command the service shows."""
    return find_aws_cli(tmp_path_factory.mktemp("awscli"))


@pytest.fixture
def org(tmp_path: Path, sts: StsProxy) -> Iterator[Org]:
    with Org(tmp_path) as served:
        yield served


def shot(driver: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 120, 2400)))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


def sign_in(driver: WebDriver, org: Org, key: str | None = None) -> None:
    driver.get(f"{org.url}/ui/")
    field = driver.find_element(By.ID, "key")
    field.send_keys(org.admin_key if key is None else key)
    submit(driver, "key")


def submit(driver: WebDriver, element_id: str) -> None:
    """Submit the form of the element *element_id* and wait for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).submit()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(page))


def click(driver: WebDriver, element: WebElement) -> None:
    """Click *element* (a link or a submit button) and wait for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(expected_conditions.staleness_of(page))


def nav(driver: WebDriver, text: str) -> None:
    click(driver, driver.find_element(By.LINK_TEXT, text))
    assert driver.find_element(By.TAG_NAME, "h1")


def fill(driver: WebDriver, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = driver.find_element(By.ID, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)


def test_sign_in_and_every_page(browser: WebDriver, tmp_path: Path, sts: StsProxy) -> None:
    with Org(tmp_path, name="acme") as org:  # no AWS role is made here: a fixed name, for the screenshots
        every_page(browser, org)


def labelled(driver: WebDriver) -> None:
    """Every visible field of the page has a label (keyboard and screen-reader users need one)."""
    for field in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
        field_id = field.get_attribute("id")
        assert field_id, field.get_attribute("outerHTML")
        assert driver.find_elements(By.CSS_SELECTOR, f"label[for='{field_id}']"), field_id


def every_page(browser: WebDriver, org: Org) -> None:
    browser.get(f"{org.url}/ui/")
    shot(browser, "sign-in")
    sign_in(browser, org)
    assert browser.current_url == f"{org.url}/ui/profiles"
    session = browser.get_cookie("sls_access_session")
    assert session is not None
    assert (session["httpOnly"], session["sameSite"]) == (True, "Strict")
    assert org.admin_key not in session["value"]
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav[aria-label=Main] a")] == [
        "Profiles",
        "Links",
        "Keys",
        "Audit",
    ]
    assert "prod" in browser.find_element(By.TAG_NAME, "table").text
    labelled(browser)
    shot(browser, "profiles")
    nav(browser, "Links")
    resolution = browser.find_element(By.CLASS_NAME, "resolution").text
    assert f"{org.name}/shop/prod → prod, via its stage link" in resolution
    assert f"{org.name}/(any other app) → sandbox, via the org default" in resolution
    labelled(browser)
    shot(browser, "links")
    nav(browser, "Keys")
    assert {"lead", "ci"} <= {th.text for th in browser.find_elements(By.CSS_SELECTOR, "tbody th")}
    labelled(browser)
    shot(browser, "keys")
    assert org.server.credentials(org.name, "shop", "prod", org.deploy_key)[0] == 200
    until(
        lambda: bool(org.call("GET", "/audit?outcome=vended")[1]["events"]),
        3.0,
        "the vend is stored (the service writes audit rows in batches)",
    )
    nav(browser, "Audit")
    rows = browser.find_element(By.TAG_NAME, "tbody").text
    assert "vended" in rows
    assert "ASIA" in rows
    fill(browser, {"f-outcome": "vended"})
    submit(browser, "f-outcome")
    assert "outcome=vended" in browser.current_url
    export = browser.find_element(By.ID, "export").get_attribute("href")
    assert export is not None
    assert export.endswith("/ui/audit.ndjson?app=&stage=&key=&outcome=vended")
    labelled(browser)
    shot(browser, "audit")
    click(browser, browser.find_element(By.CSS_SELECTOR, ".signout button"))
    assert browser.current_url == f"{org.url}/ui/sign-in"
    browser.get(f"{org.url}/ui/keys")
    assert browser.current_url == f"{org.url}/ui/sign-in"  # signed out


def test_a_deploy_key_is_refused(browser: WebDriver, org: Org) -> None:
    sign_in(browser, org, org.deploy_key)
    assert "a deploy key cannot use the admin API or the web UI" in browser.find_element(By.CLASS_NAME, "error").text
    assert browser.get_cookie("sls_access_session") is None


def test_a_key_is_created_shown_once_and_revoked(browser: WebDriver, org: Org) -> None:
    sign_in(browser, org)
    nav(browser, "Keys")
    fill(browser, {"name": "ci-shop", "role": "deploy"})
    submit(browser, "name")
    line = browser.find_element(By.ID, "new-key-line").text
    assert line.startswith("SERVERLESS_ACCESS_KEY=sls_")
    key = line.removeprefix("SERVERLESS_ACCESS_KEY=")
    shot(browser, "key-created")
    org.vend("shop", "prod", key, 200)
    nav(browser, "Keys")
    assert key not in browser.page_source  # shown once
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[aria-label='Revoke ci-shop']"))
    assert "ci-shop" not in {th.text for th in browser.find_elements(By.CSS_SELECTOR, "tbody th")}
    org.vend("shop", "prod", key, 401)


def test_a_profile_and_a_link_are_created(browser: WebDriver, org: Org) -> None:
    sign_in(browser, org)
    fill(
        browser,
        {
            "name": "staging",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/staging",
            "account_id": ACCOUNT,
            "region": "eu-west-1",
            "duration_seconds": "1800",
        },
    )
    submit(browser, "name")
    assert browser.current_url == f"{org.url}/ui/profiles/staging"
    shot(browser, "profile")
    nav(browser, "Links")
    fill(browser, {"app": "shop", "stage": "staging", "deployment_profile": "staging"})
    submit(browser, "app")
    assert (
        f"{org.name}/shop/staging → staging, via its stage link"
        in browser.find_element(By.CLASS_NAME, "resolution").text
    )
    profile = org.profiles()["staging"]
    assert (profile.role_arn, profile.region, profile.duration_seconds) == (
        f"arn:aws:iam::{ACCOUNT}:role/staging",
        "eu-west-1",
        1800,
    )
    nav(browser, "Profiles")
    click(browser, browser.find_element(By.LINK_TEXT, "staging"))
    click(browser, browser.find_element(By.CSS_SELECTOR, ".danger button"))
    error = browser.find_element(By.CLASS_NAME, "error").text
    assert "linked from" in error
    assert f"orgs.{org.name}.apps.shop.stages.staging" in error


def test_connect_aws_turns_connected_by_itself(
    browser: WebDriver, org: Org, sts: StsProxy, moto_url: str, tmp_path: Path, aws_cli: Path
) -> None:
    sts.fault = trust_enforcing(sts, moto_url)
    sign_in(browser, org)
    fill(browser, {"connect-name": "live"})
    submit(browser, "connect-name")
    assert browser.current_url == f"{org.url}/ui/profiles/live/aws"
    assert browser.find_element(By.LINK_TEXT, "AWS account").get_attribute("aria-current") == "page"
    shot(browser, "connect-start")
    fill(browser, {"account_id": ACCOUNT, "region": "us-east-1"})
    click(browser, browser.find_element(By.XPATH, "//button[text()='Connect AWS']"))
    assert browser.find_element(By.ID, "status").text == "Waiting for the role"
    command = browser.find_element(By.ID, "command").text
    template = browser.find_element(By.ID, "template").get_attribute("textContent") or ""
    download = browser.find_element(By.ID, "template-download")
    shot(browser, "connect-pending")
    run_shown_command(aws_cli, command, template, tmp_path / "cloudshell", moto_url, download.text)
    WebDriverWait(
        browser,
        60,
        poll_frequency=0.5,  # the page reloads itself meanwhile
        ignored_exceptions=[NoSuchElementException, StaleElementReferenceException],
    ).until(lambda driver: driver.find_element(By.ID, "status").text == "Connected")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{role_name(org.name, 'live')}"
    assert browser.find_element(By.ID, "connected-role").text == role_arn
    assert browser.find_element(By.ID, "connected-account").text == ACCOUNT
    shot(browser, "connect-connected")
    profile = org.profiles()["live"]
    assert (profile.role_arn, profile.account_id, profile.region) == (role_arn, ACCOUNT, "us-east-1")
    assert profile.external_id is not None
    assert profile.external_id in template
    assert org.call("PUT", "/link?app=shop&stage=live", body={"deployment_profile": "live"})[0] == 200
    assert org.vend("shop", "live", org.deploy_key, 200)["AccessKeyId"]


def test_a_form_without_its_csrf_token_is_refused(browser: WebDriver, org: Org) -> None:
    sign_in(browser, org)
    nav(browser, "Keys")
    fill(browser, {"name": "sneaky"})
    browser.execute_script(  # the test's own script (WebDriver), not the page's: the page has none
        "document.querySelectorAll('form input[name=csrf_token]').forEach(e => e.remove())"
    )
    submit(browser, "name")
    assert "csrf_token is missing or wrong" in browser.find_element(By.CLASS_NAME, "error").text
    with org.store() as store:
        assert "sneaky" not in {k.name for k in store.list_keys(org.name)}


def test_a_hostile_name_is_shown_escaped(browser: WebDriver, org: Org) -> None:
    sign_in(browser, org)
    fill(browser, {"name": HOSTILE, "role_arn": f"arn:aws:iam::{ACCOUNT}:role/h"})
    submit(browser, "name")
    assert browser.find_element(By.CSS_SELECTOR, "h1 .name").text == HOSTILE
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert "&lt;script&gt;&quot;&amp;amp;" in browser.page_source or '&lt;script&gt;"&amp;amp;' in browser.page_source
    nav(browser, "Profiles")
    assert browser.find_element(By.LINK_TEXT, HOSTILE)
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert HOSTILE in org.profiles()


def test_the_pages_fit_a_phone_and_work_from_the_keyboard(browser: WebDriver, tmp_path: Path, sts: StsProxy) -> None:
    with Org(tmp_path, name="acme") as org:  # no AWS role is made here: a fixed name, for the screenshot
        on_a_phone(browser, org)


def on_a_phone(browser: WebDriver, org: Org) -> None:
    browser.set_window_size(390, 844)
    browser.get(f"{org.url}/ui/")
    field = browser.switch_to.active_element  # the key field has the focus from the start
    assert field.get_attribute("id") == "key"
    field.send_keys(org.admin_key, Keys.ENTER)
    WebDriverWait(browser, 30).until(expected_conditions.url_to_be(f"{org.url}/ui/profiles"))
    for page in ("profiles", "links", "keys", "audit", "profiles/prod", "profiles/prod/aws"):
        browser.get(f"{org.url}/ui/{page}")
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= 390, page  # tables scroll inside their own box; the page does not
    browser.get(f"{org.url}/ui/keys")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)  # the first stop is the skip link, then the navigation
    assert browser.switch_to.active_element.text == "Skip to content"
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Profiles"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 30).until(expected_conditions.url_to_be(f"{org.url}/ui/profiles"))
    browser.set_window_size(1280, 1000)
    browser.get(f"{org.url}/ui/profiles")
    browser.set_window_size(390, 844)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "phone-profiles.png"))
    assert org.admin_key not in org.server.stdout() + org.server.stderr()
