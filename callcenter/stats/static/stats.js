// Shared by the dashboard and the wallboard: API calls, the login form.
// The session is the HttpOnly cookie the login sets: no token is kept where a script can read it.
"use strict";
const Hotline = (() => {
  async function api(path, params) {
    const url = new URL(path, location.origin);
    Object.entries(params || {}).forEach(([k, v]) => v !== undefined && url.searchParams.set(k, v));
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return response;
  }
  function showLogin(message) {
    document.getElementById("login").style.display = "block";
    document.getElementById("app").style.display = "none";
    if (message) document.getElementById("login-error").textContent = message;
  }
  function setupLogin(onReady) {
    const form = document.getElementById("login-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { username: form.username.value, password: form.password.value };
      const response = await fetch("/api/v1/auth/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body), credentials: "same-origin" });
      if (!response.ok) {
        let detail = "登录失败";
        try { detail = (await response.json()).detail || detail; } catch (e) { /* keep */ }
        document.getElementById("login-error").textContent = detail;
        return;
      }
      form.password.value = "";
      document.getElementById("login").style.display = "none";
      document.getElementById("app").style.display = "block";
      onReady();
    });
  }
  const pct = (v) => (v === null || v === undefined) ? "—" : (v * 100).toFixed(1) + "%";
  const num = (v) => (v === null || v === undefined) ? "—" : Number(v).toLocaleString("zh-CN");
  const secs = (v) => (v === null || v === undefined) ? "—" : Number(v).toFixed(1) + " 秒";
  return { api, showLogin, setupLogin, pct, num, secs };
})();
