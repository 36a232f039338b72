"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const STATES = { ready: "空闲", paused: "小休", ringing: "振铃", on_call: "通话中",
                   wrap_up: "话后处理", logged_out: "签出" };
  const CHANNELS = { phone: "电话", sms: "短信", web: "网上咨询" };
  // SVG: the states and their counts are text on the page
  const agentsChart = echarts.init($("c-agents"), null, { renderer: "svg" });
  window.addEventListener("resize", () => agentsChart.resize());
  const mmss = (s) => { s = Math.round(s || 0); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); };

  function render(live) {
    $("clock").textContent = "更新于 " + live.at.slice(11, 19);
    $("w-waiting").textContent = Hotline.num(live.waiting);
    $("w-waiting").className = "value " + (live.waiting > 0 ? "warn" : "ok");
    $("w-longest").textContent = mmss(live.longest_wait);
    $("w-ivr").textContent = Hotline.num(live.in_ivr);
    $("w-oncall").textContent = Hotline.num(live.on_call);
    $("w-sl").textContent = Hotline.pct(live.today.service_level);
    $("w-abandon").textContent = Hotline.pct(live.today.abandon_rate);
    $("w-contacts").textContent = Hotline.num(live.today.contacts);
    $("w-containment").textContent = Hotline.pct(live.today.ivr_containment);
    $("w-queues").innerHTML = "";
    live.queues.forEach((q) => {
      const tr = document.createElement("tr");
      tr.dataset.queue = q.queue;
      tr.title = q.queue;  // the id, as a tooltip
      [q.title || q.queue, q.waiting, mmss(q.longest_wait)].forEach((v) => {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      $("w-queues").appendChild(tr);
    });
    $("w-channels").innerHTML = "";
    Object.entries(live.channels || {}).forEach(([k, c]) => {
      const tr = document.createElement("tr");
      tr.dataset.channel = k;
      [CHANNELS[k] || k, Hotline.num(c.contacts), Hotline.pct(c.self_service_rate),
       Hotline.pct(c.reply_on_time_rate), k === "sms" ? Hotline.pct(c.delivery_rate) : "—",
       Hotline.num(c.open)].forEach((v) => {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      $("w-channels").appendChild(tr);
    });
    renderAgents(live);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  // every state with its count in the legend; the ring holds the states someone is in; with
  // nobody logged in there is no ring but the words 无坐席登录
  function renderAgents(live) {
    const states = Object.entries(live.agents_by_state);
    const loggedIn = live.agents_logged_in ?? states.reduce((n, [, v]) => n + v, 0);
    const names = states.map(([k, v]) => `${STATES[k] || k}: ${v}`);
    $("c-agents").dataset.loggedIn = String(loggedIn);
    agentsChart.setOption({
      title: { text: "坐席状态", left: 10, top: 6, textStyle: { color: "#e8eef6", fontSize: 18 } },
      tooltip: { trigger: "item" },
      legend: { orient: "vertical", right: 10, top: 40, data: names,
                textStyle: { color: "#e8eef6", fontSize: 15 } },
      graphic: loggedIn ? [] : [{ type: "text", left: "center", top: "middle",
        style: { text: "无坐席登录", fill: "#e8eef6", fontSize: 24 } }],
      // a state nobody is in: in the legend, no slice, no label; all zero: no ring at all
      series: [{ type: "pie", radius: ["35%", "65%"], center: ["40%", "55%"],
        stillShowZeroSum: false,
        label: { color: "#e8eef6", fontSize: 16, formatter: "{b}" },
        data: states.map(([, v], i) => ({ name: names[i], value: v,
          label: { show: v > 0 }, labelLine: { show: v > 0 } })) }] }, true);
  }

  let poll = null;
  function startPolling() {
    if (poll) return;
    $("link").textContent = "轮询";
    poll = setInterval(refresh, 5000);
  }
  async function refresh() {
    try {
      render(await (await Hotline.api("/api/v1/stats/live")).json());
      $("error").textContent = "";
    } catch (err) { $("error").textContent = "获取失败：" + err.message; }
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let ws;  // the session cookie authenticates the socket
    try { ws = new WebSocket(scheme + location.host + "/api/v1/ws?topics=wallboard"); }
    catch (e) { startPolling(); return; }
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.topic === "wallboard") {
        render(message.payload);
        $("link").textContent = "实时连接";
        document.body.dataset.ws = "live";
      }
    };
    ws.onclose = () => { $("link").textContent = "连接断开，改为轮询"; startPolling(); };
  }
  async function start() {
    await refresh();
    connect();
  }
  Hotline.setupLogin(start);
  start();
})();
