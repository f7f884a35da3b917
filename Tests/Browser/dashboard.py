"""Drives MeshFarm's dashboard in headless Chromium (selenium, Debian's
chromium-driver), as DashboardBrowserTests asks: sign in, watch a job's
gallery fill in live, open a task log, retry a failed job, delete a job,
drain and resume a worker, and look at the farm. Saves a screenshot of each page.

Environment: MESHFARM_URL, MESHFARM_TOKEN (an admin's), GOOD_JOB (a job
whose renders have not started: the test starts the GPU worker a few
seconds after this script), BAD_JOB (a failed job), IMAGE_SIZE, VIEWS
(rendered views the good job has in all), SHOTS (a directory).
Exits 0 after printing "dashboard: ok", or 1 with what went wrong.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base = os.environ["MESHFARM_URL"].rstrip("/")
token = os.environ["MESHFARM_TOKEN"]
good, bad = os.environ["GOOD_JOB"], os.environ["BAD_JOB"]
size, views = int(os.environ["IMAGE_SIZE"]), int(os.environ["VIEWS"])
shots = os.environ["SHOTS"]


def api(path, method="GET"):
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def wait(what, check, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:  # the page is being redrawn under us
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    # Sign in with the token; the session cookie does the rest.
    driver.get(base + "/")
    wait("the sign-in form", lambda: driver.find_element(By.ID, "token"))
    shot("1-sign-in")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#signin button").click()
    wait("the jobs list", lambda: driver.find_element(By.CSS_SELECTOR, "a[href='#/jobs/%s']" % good))
    assert "(admin)" in driver.find_element(By.ID, "who").text, driver.find_element(By.ID, "who").text
    shot("2-jobs")

    # The good job's gallery: waiting first, then filled in from its event
    # stream (the job page does not poll), every image loaded at its size.
    driver.get(base + "/#/jobs/" + good)
    wait("the job page", lambda: driver.find_elements(By.CSS_SELECTOR, ".gallery"))
    waiting = len(driver.find_elements(By.CSS_SELECTOR, ".gallery .waiting"))
    assert waiting > 0, "the renders had already finished: nothing to watch"
    shot("3-job-waiting")

    def loaded():
        sizes = driver.execute_script(
            "return [...document.querySelectorAll('.gallery img')].map(i => i.complete ? i.naturalWidth : 0)")
        return len(sizes) == views and all(width == size for width in sizes)

    wait("every view loaded at %dx%d" % (size, size), loaded, timeout=120)
    wait("the job's success", lambda: driver.find_element(By.CSS_SELECTOR, "h2 .status.succeeded"))
    wait("the contact sheet", lambda: driver.execute_script(
        "const i = document.querySelector('img[alt=\"contact sheet\"]'); return i && i.complete && i.naturalWidth > 0"))
    shot("4-job-done")

    # A large view, then a task's log.
    driver.find_element(By.CSS_SELECTOR, ".gallery img").click()
    wait("the large view", lambda: driver.find_element(By.CSS_SELECTOR, "dialog[open] img"))
    driver.find_element(By.ID, "dialog-close").click()
    driver.find_element(By.CSS_SELECTOR, "button[data-log='%s.analyze']" % good).click()
    log = wait("the analysis log", lambda: driver.find_element(By.CSS_SELECTOR, "dialog[open] pre").text)
    assert "queued attempt 1" in log and "triangles" in log, log
    shot("5-task-log")
    driver.find_element(By.ID, "dialog-close").click()

    # Retry the failed job from its page: its analysis runs again.
    driver.get(base + "/#/jobs/" + bad)
    wait("the failed job", lambda: driver.find_element(By.CSS_SELECTOR, "h2 .status.failed"))
    shot("6-failed-job")
    driver.find_element(By.ID, "retry").click()
    wait("the retried job to fail again", lambda: api("/v1/jobs/" + bad)[1]["tasks"][0]["attempts"] == 2
         and api("/v1/jobs/" + bad)[1]["status"] == "failed", timeout=60)
    # Delete it, confirming the prompt.
    driver.get(base + "/#/jobs/" + bad)
    wait("the failed job again", lambda: driver.find_element(By.CSS_SELECTOR, "h2 .status.failed"))
    driver.find_element(By.ID, "delete").click()
    driver.switch_to.alert.accept()
    wait("the jobs list after the delete", lambda: driver.execute_script("return location.hash") == "#/")
    assert api("/v1/jobs/" + bad)[0] == 404, "the deleted job is still there"

    # The workers: drain the GPU worker, then let it take tasks again.
    driver.get(base + "/#/workers")
    wait("the workers", lambda: "gpu-1" in driver.find_element(By.CSS_SELECTOR, "main table").text)
    driver.find_element(By.CSS_SELECTOR, "button[data-drain='gpu-1']").click()
    wait("gpu-1 draining", lambda: driver.find_element(By.CSS_SELECTOR, "button[data-resume='gpu-1']"))
    wait("gpu-1's own report", lambda: [w for w in api("/v1/workers")[1] if w["name"] == "gpu-1"][0]["state"] == "draining")
    shot("7-workers-draining")
    driver.find_element(By.CSS_SELECTOR, "button[data-resume='gpu-1']").click()
    wait("gpu-1 taking tasks again", lambda: driver.find_element(By.CSS_SELECTOR, "button[data-drain='gpu-1']"))
    wait("gpu-1's own report", lambda: [w for w in api("/v1/workers")[1] if w["name"] == "gpu-1"][0]["state"] == "idle")
    shot("7-workers")
    driver.get(base + "/#/farm")
    wait("the farm", lambda: driver.find_element(By.CSS_SELECTOR, ".cards .card"))
    shot("8-farm")
    # The sign-in page's first request is refused (401) before the token is
    # given: the browser logs it, and it is expected.
    errors = [entry for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and "401" not in entry["message"]]
    assert not errors, "errors in the browser console: %s" % errors
    print("dashboard: ok")
except Exception as error:
    shot("failure")
    print("dashboard: %s: %s" % (type(error).__name__, error), file=sys.stderr)
    sys.exit(1)
finally:
    driver.quit()
