"""The web UI in a real browser: Chromium headless through chromium-driver and selenium (Debian
packages, installed by scripts/install-system-deps.sh --test), against a real `serve` on a free
port with a temporary home per test. Run by scripts/webui-tests.sh (which test.sh runs).
Each test saves a screenshot of its page under $SCREENSHOTS."""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BIN = os.environ["SLOTH_RUNNER_BIN"]
SHOTS = os.environ.get("SCREENSHOTS", "artifacts/screenshots")
WAIT = 30  # seconds a condition may take before the test fails (conditions, never sleeps)


class Daemon:
    """A `serve` of its own: temporary home, port 0, the URL read from its log."""

    def __init__(self, home):
        self.home = home
        # The engine's own events (system.startup, …) off: the tests count what they dispatch.
        self.env = dict(os.environ, SLOTH_RUNNER_HOME=home, NO_COLOR="1", SLOTH_RUNNER_ENGINE_EVENTS="false")
        self.log_path = os.path.join(home, "serve.log")
        self.proc = None
        self.url = None

    def cli(self, *args, check=True):
        r = subprocess.run([BIN, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"sloth-runner {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r

    def hook(self, name, source):
        path = os.path.join(self.home, name + ".lua")
        with open(path, "w") as f:
            f.write(source)
        self.cli("hook", "add", path)

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "serve", "--http", "127.0.0.1:0", "--grace", "2s"], env=self.env, stderr=self.log)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                m = re.search(r"HTTP API listening on (http://[^ ]+)/api/v1", f.read())
            if m:
                self.url = m.group(1)
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError("serve did not start: " + open(self.log_path).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.log.close()

    def dispatch(self, event_type, data=None):
        r = self.cli("events", "dispatch", event_type, "--data", json.dumps(data or {}), "-o", "json")
        return json.loads(r.stdout)["id"]

    def event(self, event_id):
        return json.loads(self.cli("events", "show", event_id, "-o", "json").stdout)


class WebUITest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sloth-webui-")
        self.daemon = Daemon(self.tmp.name)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1000"]:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.browser.set_page_load_timeout(WAIT)

    def tearDown(self):
        try:
            os.makedirs(SHOTS, exist_ok=True)
            self.browser.save_screenshot(os.path.join(SHOTS, self.id().split(".")[-1] + ".png"))
        finally:
            self.browser.quit()
            self.daemon.stop()
            self.tmp.cleanup()

    def open(self, path):
        self.browser.get(self.daemon.url + path)

    def until(self, condition, message):
        WebDriverWait(self.browser, WAIT, poll_frequency=0.05).until(lambda _: condition(), message)

    def console_errors(self):
        return [e for e in self.browser.get_log("browser") if e["level"] == "SEVERE"]

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.browser.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def test_every_page_loads_without_errors(self):
        d = self.daemon
        d.hook("notify", "return { name = 'notify', event_type = 'task.*', execute = function(e) print('notified ' .. e.type); return true, 'sent' end }")
        d.start()
        first = d.dispatch("task.failed", {"task": {"task_name": "deploy"}})
        self.until(lambda: d.event(first)["status"] == "completed", "the event did not complete")
        for path, heading in [("/", "Overview"), ("/events", "Events"), ("/events/" + first, "Event"), ("/hooks", "Hooks"),
                              ("/hooks/notify", "Hook notify"), ("/webhooks", "Webhooks"), ("/state", "State"),
                              ("/secrets", "Secrets"), ("/sources", "Event sources"), ("/types", "Event types")]:
            self.open(path)
            self.assertTrue(self.browser.find_element(By.TAG_NAME, "h1").text.startswith(heading), path)
            self.assertEqual(self.console_errors(), [], path)
            self.shot("page" + (path.replace("/", "_") if path != "/" else "_overview")[:40])
        # The overview at a phone's width, and the event detail, for the README.
        self.open("/events/" + first)
        self.shot("event-detail")
        self.browser.set_window_size(360, 900)
        self.open("/")
        self.assertEqual(self.console_errors(), [])
        self.shot("overview-360px")
        self.browser.set_window_size(1440, 1000)
        self.open("/")
        self.shot("overview")

    # Every control a person can use has a name a screen reader says: a <label>, an aria-label,
    # or its own text. Returns the controls that have none.
    UNLABELLED = """
        const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())
            || (el.tagName === 'A' && el.textContent.trim()) || el.type === 'hidden' || el.type === 'submit' && el.value;
        return Array.from(document.querySelectorAll('input, select, textarea, button, a[href]'))
            .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 120));
    """

    def test_every_page_fits_a_phone_and_names_its_controls(self):
        d = self.daemon
        d.hook("wide", "return { name = 'wide', event_type = 'custom.*', execute = function(e) print(string.rep('x', 400)); return true end }")
        d.start()
        first = d.dispatch("custom.wide", {"long": "y" * 300})
        self.until(lambda: d.event(first)["status"] == "completed", "the event did not complete")
        d.cli("state", "set", "a-rather-long-key-name-for-a-narrow-screen", json.dumps({"nested": "z" * 200}))
        self.browser.set_window_size(360, 800)
        d.cli("schedule", "add", "nightly-backup-of-the-main-database", "--cron", "30 2 * * *", "--tz", "Europe/Berlin")
        d.cli("watch", "add", "tree", self.tmp.name, "--recursive", "--include", "*.conf")
        for path in ["/", "/events", "/events/" + first, "/hooks", "/hooks/wide", "/webhooks", "/state", "/secrets", "/sources", "/types"]:
            self.open(path)
            # The page itself never scrolls sideways at 360 px: wide tables, code and output
            # scroll inside their own box.
            inner = self.browser.execute_script("return window.innerWidth")
            scroll = self.browser.execute_script("return document.documentElement.scrollWidth")
            self.assertLessEqual(scroll, inner, f"{path} is {scroll} px wide in a {inner} px window")
            self.assertEqual(self.browser.execute_script(self.UNLABELLED), [], path)
            self.assertEqual(self.console_errors(), [], path)
            self.shot("360px" + (path.replace("/", "_") if path != "/" else "_overview")[:40])
        # The sources page lists the schedule and the watch, and what the daemon's sources report.
        self.browser.set_window_size(1440, 1000)
        def sources_page():
            self.open("/sources")
            return self.browser.find_element(By.ID, "sources").text
        self.until(lambda: "scheduler" in sources_page() and "running" in sources_page(), "the sources' states are not shown")
        self.assertIn("nightly-backup-of-the-main-database", self.browser.find_element(By.ID, "schedule-list").text)
        self.assertIn("*.conf", self.browser.find_element(By.ID, "watch-list").text)
        self.shot("sources")

    def test_the_overview_follows_the_stream_without_a_reload(self):
        d = self.daemon
        d.hook("half", "return { name = 'half', event_type = 'custom.half', max_attempts = 1, execute = function(e) if e.data.fail then error('no') end return true end }")
        d.start()
        self.open("/")
        self.browser.execute_script("window.__notReloaded = true")
        # The hour chart's totals over its bars (a minute may turn while the test runs).
        totals = lambda: self.browser.execute_script(
            "let t = 0, f = 0;"
            "for (const bar of document.querySelectorAll('#live svg.chart')[0].querySelectorAll('rect.bar')) {"
            "  const m = bar.textContent.match(/: (\\d+) events, (\\d+) failed/); t += +m[1]; f += +m[2]; }"
            "return [t, f]")
        self.assertEqual(totals(), [0, 0])
        ids = [d.dispatch("custom.half", {"fail": n == 0}) for n in range(3)]
        for i in ids:
            self.until(lambda: d.event(i)["status"] in ("completed", "failed"), "an event did not finish")
        # The chart counts the three events and the failure, the failing-hooks table names the
        # hook, and the page never reloaded.
        self.until(lambda: totals() == [3, 1], "the chart did not follow the stream")
        self.until(lambda: "half" in self.browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=failing]").text,
                   "the failing hooks did not follow")
        self.assertTrue(self.browser.execute_script("return window.__notReloaded === true"), "the page reloaded")
        self.assertEqual(self.console_errors(), [])
        self.shot("overview-live")
        # The hook's history: newest first, or on request its failures first (the oldest run here).
        first_run = lambda: self.browser.find_element(By.CSS_SELECTOR, "#history tbody tr td:nth-child(3)").text
        self.open("/hooks/half")
        self.assertEqual(first_run(), "success")
        self.browser.find_element(By.LINK_TEXT, "Failures first").click()
        self.until(lambda: "failed=1" in self.browser.current_url, "no failures-first view")
        self.assertIn("no", first_run())
        self.assertEqual(len(self.browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")), 3)

    def test_disabling_a_hook_in_the_ui_stops_it(self):
        d = self.daemon
        d.hook("counter", "return { name = 'counter', event_type = 'custom.count', execute = function(e) return true end }")
        d.start()
        self.open("/hooks")
        toggle = self.browser.find_element(By.CSS_SELECTOR, "input[data-action=toggle][data-hook=counter]")
        self.assertTrue(toggle.is_selected())
        toggle.click()
        self.until(lambda: "disabled" in self.browser.find_element(By.ID, "action-result").text, "the UI did not confirm")
        listed = json.loads(d.cli("hook", "list", "-o", "json").stdout)
        self.assertFalse(listed[0]["enabled"])
        skipped = d.dispatch("custom.count")
        self.until(lambda: d.event(skipped)["status"] == "completed", "the event did not finish")
        self.assertEqual(d.event(skipped)["executions"], [], "a disabled hook ran")
        self.browser.find_element(By.CSS_SELECTOR, "input[data-action=toggle][data-hook=counter]").click()
        self.until(lambda: "enabled" in self.browser.find_element(By.ID, "action-result").text, "the UI did not confirm")
        ran = d.dispatch("custom.count")
        self.until(lambda: len(d.event(ran)["executions"]) == 1, "the enabled hook did not run")

    def test_retrying_a_failed_event_shows_the_new_attempt(self):
        d = self.daemon
        d.hook("flaky", "return { name = 'flaky', event_type = 'custom.flaky', max_attempts = 1, execute = function(e) error('broken') end }")
        d.start()
        failed = d.dispatch("custom.flaky")
        self.until(lambda: d.event(failed)["status"] == "failed", "the event did not fail")
        self.open("/events/" + failed)
        self.assertEqual(len(self.browser.find_elements(By.CSS_SELECTOR, "tr.execution")), 1)
        self.browser.find_element(By.CSS_SELECTOR, "button[data-action=retry]").click()
        # The page reloads by itself once the retry is accepted; the second run shows up.
        self.until(lambda: d.event(failed)["status"] == "failed" and len(d.event(failed)["executions"]) == 2, "the retry did not run")
        self.open("/events/" + failed)
        rows = self.browser.find_elements(By.CSS_SELECTOR, "tr.execution")
        self.assertEqual(len(rows), 2)
        self.assertIn("broken", self.browser.find_element(By.ID, "executions").text)

    def test_the_event_page_explains_and_replays(self):
        d = self.daemon
        d.hook("ok", "return { name = 'ok', event_type = 'custom.r', execute = function(e) return true, 'done' end }")
        d.hook("picky", "return { name = 'picky', event_type = 'custom.r', filter = { level = 'high' }, execute = function(e) return true end }")
        d.start()
        original = d.dispatch("custom.r", {"level": "low"})
        self.until(lambda: d.event(original)["status"] == "completed", "the event did not finish")
        self.open("/events/" + original)
        reasons = {r.get_attribute("data-hook"): r.get_attribute("data-reason") for r in self.browser.find_elements(By.CSS_SELECTOR, "#explain tr.verdict")}
        self.assertEqual(reasons, {"ok": "ran", "picky": "filter"})
        self.assertIn('"low"', self.browser.find_element(By.CSS_SELECTOR, "#explain tr[data-hook=picky]").text)
        self.browser.find_element(By.CSS_SELECTOR, "button[data-action=replay]").click()
        WebDriverWait(self.browser, WAIT).until(lambda b: b.switch_to.alert).accept()
        # The browser goes to the replay's page; the replay runs the hook that ran before.
        self.until(lambda: "/events/" in self.browser.current_url and original not in self.browser.current_url, "the UI did not open the replay")
        replay = self.browser.current_url.rsplit("/", 1)[1]
        self.until(lambda: d.event(replay)["status"] == "completed", "the replay did not run")
        self.assertEqual([x["hook_name"] for x in d.event(replay)["executions"]], ["ok"])
        self.assertEqual(d.event(replay)["replay"]["of"], original)
        self.assertEqual(len(d.event(original)["executions"]), 1, "the original's record changed")
        self.open("/events/" + replay)
        self.assertIn("A replay of", self.browser.find_element(By.CSS_SELECTOR, "p.replay-of").text)
        self.assertEqual(self.console_errors(), [])

    def test_the_test_panel_runs_the_hook_on_edited_json(self):
        d = self.daemon
        d.hook("greet", "return { name = 'greet', event_type = 'custom.greet', execute = function(e) print('hello ' .. tostring(e.data.who)); return true, 'greeted' end }")
        d.start()
        self.open("/hooks/greet")
        area = self.browser.find_element(By.ID, "test-event")
        area.clear()
        area.send_keys('{"type": "custom.greet", "data": {"who": "panel"}}')
        self.browser.find_element(By.CSS_SELECTOR, "#test-hook button[type=submit]").click()
        self.until(lambda: "hello panel" in self.browser.find_element(By.ID, "test-output").text, "no output shown")
        self.assertIn("success: greeted", self.browser.find_element(By.ID, "test-outcome").text)
        self.assertIn("instructions", self.browser.find_element(By.ID, "test-usage").text)
        self.assertEqual(json.loads(d.cli("events", "list", "-o", "json").stdout), [], "the dry run stored an event")

    def test_an_event_from_the_cli_appears_without_a_reload(self):
        d = self.daemon
        d.start()
        self.open("/events")
        self.browser.execute_script("window.__notReloaded = true")
        event_id = d.dispatch("custom.live", {"n": 1})
        self.until(lambda: self.browser.find_elements(By.CSS_SELECTOR, f'tr[data-id="{event_id}"]'), "the new event did not appear")
        self.assertTrue(self.browser.execute_script("return window.__notReloaded === true"), "the page reloaded")
        self.assertEqual(self.console_errors(), [])

    def test_tokens_login_roles_and_csrf(self):
        d = self.daemon
        reader = d.cli("token", "create", "viewer", "--role", "read").stdout.strip()
        d.hook("guarded", "return { name = 'guarded', event_type = 'custom.g', execute = function(e) return true end }")
        d.start()
        self.open("/hooks")
        self.until(lambda: "/login" in self.browser.current_url, "no login asked")
        # The overview's live part is refused too, not sent to anyone without a session.
        self.assertEqual(self.browser.execute_async_script(
            "fetch('/overview/live').then((r) => arguments[0](r.status))"), 401)
        self.browser.find_element(By.ID, "token").send_keys("srt_wrong")
        self.browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        self.until(lambda: "not valid" in self.browser.page_source, "a wrong token was not refused")
        self.browser.find_element(By.ID, "token").send_keys(reader)
        self.browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        self.until(lambda: self.browser.current_url.endswith("/hooks"), "the login did not lead back")
        cookie = self.browser.get_cookie("sloth_session")
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["sameSite"], "Strict")
        # A read token sees the page but not the switch, and the server refuses the change anyway.
        toggle = self.browser.find_element(By.CSS_SELECTOR, "input[data-action=toggle][data-hook=guarded]")
        self.assertFalse(toggle.is_displayed())
        status = self.browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            fetch('/api/v1/hooks/guarded/disable', {method: 'POST', headers: {'X-CSRF-Token': csrf}})
              .then(r => r.json().then(j => done(r.status + ' ' + j.error.code)));
        """)
        self.assertEqual(status, "403 forbidden")
        self.assertTrue(json.loads(d.cli("hook", "list", "-o", "json").stdout)[0]["enabled"])
        # An admin session, but a POST without the CSRF token: refused.
        admin = d.cli("token", "create", "ops", "--role", "admin").stdout.strip()
        self.browser.delete_all_cookies()
        self.open("/login?next=/hooks")
        self.browser.find_element(By.ID, "token").send_keys(admin)
        self.browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        self.until(lambda: self.browser.current_url.endswith("/hooks"), "the admin login did not lead back")
        status = self.browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/v1/hooks/guarded/disable', {method: 'POST'}).then(r => r.json().then(j => done(r.status + ' ' + j.error.code)));
        """)
        self.assertEqual(status, "403 csrf")
        self.assertTrue(json.loads(d.cli("hook", "list", "-o", "json").stdout)[0]["enabled"])
        # With it, the change goes through.
        self.browser.find_element(By.CSS_SELECTOR, "input[data-action=toggle][data-hook=guarded]").click()
        self.until(lambda: not json.loads(d.cli("hook", "list", "-o", "json").stdout)[0]["enabled"], "the admin could not disable")

    def test_html_in_output_is_shown_as_text(self):
        d = self.daemon
        d.hook("html", "return { name = 'html', event_type = 'custom.html', execute = function(e) print('<b id=\"injected\">bold</b><script>window.pwned=1</script>'); return true end }")
        d.start()
        event_id = d.dispatch("custom.html")
        self.until(lambda: len(d.event(event_id)["executions"]) == 1, "the hook did not run")
        self.open("/events/" + event_id)
        self.assertEqual(self.browser.find_elements(By.ID, "injected"), [])
        self.assertIn('<b id="injected">bold</b>', self.browser.find_element(By.ID, "executions").text)
        self.assertIsNone(self.browser.execute_script("return window.pwned"))

    def test_state_secrets_and_webhooks_pages(self):
        d = self.daemon
        d.cli("secret", "set", "hook_key", "--value", "TOPSECRET-VALUE")
        d.cli("webhook", "add", "alerts", "--event-type", "custom.alert", "--verify", "token", "--secret", "hook_key")
        d.start()
        # State: set a key from the page, change it in place, delete it.
        self.open("/state")
        form = self.browser.find_element(By.ID, "state-set")
        form.find_element(By.NAME, "stack").send_keys("prod")
        form.find_element(By.NAME, "key").send_keys("deploys")
        form.find_element(By.NAME, "value").send_keys('{"count": 1}')
        form.find_element(By.CSS_SELECTOR, "button").click()
        self.until(lambda: self.browser.find_elements(By.CSS_SELECTOR, 'tr[data-key="deploys"]'), "the new key is not listed")
        self.assertEqual(json.loads(d.cli("state", "get", "deploys", "--stack", "prod").stdout), {"count": 1})
        area = self.browser.find_element(By.CSS_SELECTOR, 'tr[data-key="deploys"] textarea')
        area.clear()
        area.send_keys('{"count": 2}')
        self.browser.find_element(By.CSS_SELECTOR, 'tr[data-key="deploys"] button[data-action=state-save]').click()
        self.until(lambda: json.loads(d.cli("state", "get", "deploys", "--stack", "prod").stdout) == {"count": 2}, "not saved")
        self.browser.find_element(By.CSS_SELECTOR, 'tr[data-key="deploys"] button[data-action=state-delete]').click()
        self.browser.switch_to.alert.accept()
        self.until(lambda: d.cli("state", "get", "deploys", "--stack", "prod", check=False).returncode != 0, "not deleted")
        # Secrets: names and dates, never a value; set one, delete one.
        self.open("/secrets")
        self.assertIn("hook_key", self.browser.page_source)
        self.assertNotIn("TOPSECRET-VALUE", self.browser.page_source)
        form = self.browser.find_element(By.ID, "secret-set")
        form.find_element(By.NAME, "name").send_keys("new_secret")
        form.find_element(By.NAME, "value").send_keys("ANOTHER-VALUE")
        form.find_element(By.CSS_SELECTOR, "button").click()
        self.until(lambda: self.browser.find_elements(By.CSS_SELECTOR, 'tr[data-secret="new_secret"]'), "the new secret is not listed")
        self.assertNotIn("ANOTHER-VALUE", self.browser.page_source)
        self.assertIn("new_secret", d.cli("secret", "list").stdout)
        self.browser.find_element(By.CSS_SELECTOR, 'button[data-action=secret-delete][data-name="new_secret"]').click()
        self.browser.switch_to.alert.accept()
        self.until(lambda: "new_secret" not in d.cli("secret", "list").stdout, "the secret was not deleted")
        # Webhooks: a delivery and a rejection show up with the webhook's URL.
        import urllib.request
        for token in ["TOPSECRET-VALUE", "wrong"]:
            request = urllib.request.Request(d.url + "/webhooks/alerts", data=b"{}", method="POST", headers={"Authorization": "Bearer " + token})
            try:
                urllib.request.urlopen(request, timeout=WAIT)
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 401)
        self.open("/webhooks")
        page = self.browser.find_element(By.TAG_NAME, "main").text
        self.assertIn(d.url + "/webhooks/alerts", page)
        self.assertEqual(len(self.browser.find_elements(By.CSS_SELECTOR, "table.deliveries a")), 1)
        self.assertIn("invalid_signature", self.browser.find_element(By.CSS_SELECTOR, "table.rejections").text)
        self.assertNotIn("TOPSECRET-VALUE", self.browser.page_source)
        self.assertEqual(self.console_errors(), [])

    def test_the_keyboard_works_the_controls_and_dark_mode_follows_the_system(self):
        d = self.daemon
        d.hook("keys", "return { name = 'keys', event_type = 'custom.k', execute = function(e) return true end }")
        d.start()
        self.open("/hooks")
        ActionChains(self.browser).send_keys(Keys.TAB).perform()
        self.assertEqual(self.browser.switch_to.active_element.text, "Skip to content")
        # Tab on until the hook's switch has the focus; Space toggles it.
        active = None
        for _ in range(40):
            ActionChains(self.browser).send_keys(Keys.TAB).perform()
            active = self.browser.switch_to.active_element
            if active.get_attribute("data-action") == "toggle":
                break
        self.assertEqual(active.get_attribute("data-hook"), "keys", "the switch is not reachable by keyboard")
        ActionChains(self.browser).send_keys(Keys.SPACE).perform()
        self.until(lambda: not json.loads(d.cli("hook", "list", "-o", "json").stdout)[0]["enabled"], "Space did not disable the hook")
        light = self.browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        self.browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        dark = self.browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        self.assertNotEqual(light, dark)
        self.assertEqual(dark, "rgb(22, 24, 26)")
        self.shot("hooks-dark")


if __name__ == "__main__":
    unittest.main(verbosity=2)
