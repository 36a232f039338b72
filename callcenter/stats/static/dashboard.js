"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const charts = {};
  // the charts that name FAQs, menu nodes and queues draw SVG: their words are text on the page
  const WORDS = ["faq", "nodes", "queues"];
  ["media", "trend", "channel", "sl", "faq", "nodes", "queues"].forEach((n) => {
    charts[n] = echarts.init($("c-" + n), null, WORDS.includes(n) ? { renderer: "svg" } : {});
  });
  // a long question on an axis: its first characters (the whole question and the id: tooltip)
  const short = (text, n) => (text.length > n ? text.slice(0, n) + "…" : text);
  const named = (items, key, words) => items.map((item) => ({
    words: item[words] || item[key], id: item[key] }));
  const axisTip = (rows) => (params) => {
    const row = rows[params[0].dataIndex];
    const lines = params.map((p) => `${p.marker}${p.seriesName}：${p.value}`);
    return [`${row.words}`, `编号：${row.id}`, ...lines].join("<br>");
  };
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  const weekAgo = new Date(Date.now() + 8 * 3600e3 - 6 * 86400e3).toISOString().slice(0, 10);
  const search = new URLSearchParams(location.search);
  $("from").value = search.get("from") || weekAgo;
  $("to").value = search.get("to") || today;
  $("interval").value = search.get("interval") || "day";
  $("channel").value = search.get("channel") || "phone";
  const params = () => ({ from: $("from").value, to: $("to").value, interval: $("interval").value });
  const CHANNELS = { phone: "电话", sms: "短信", web: "网上咨询" };
  const label = (start, interval) => {
    if (interval === "month") return start.slice(0, 7);
    if (interval === "day") return start.slice(5, 10);
    return start.slice(5, 16).replace("T", " ");
  };
  const title = (text) => ({ text, left: 10, top: 6, textStyle: { fontSize: 15 } });

  async function load() {
    $("error").textContent = "";
    document.body.dataset.state = "loading";
    try {
      const p = params();
      const channel = $("channel").value;
      const get = (r, extra) => Hotline.api("/api/v1/stats/" + r, { ...p, ...extra }).then((x) => x.json());
      // queues exist for calls only; every channel side by side comes from /channels
      const [summary, faqs, nodes, queues, channels] = await Promise.all([
        get("summary", { channel }), get("faqs", { channel }), get("nodes", { channel }),
        channel === "phone" ? get("queues") : Promise.resolve({ queues: [] }),
        get("channels")]);
      render(summary, faqs, nodes, queues, p.interval);
      renderChannels(channels, p.interval);
      document.body.dataset.state = "ready";
    } catch (err) {
      $("error").textContent = "查询失败：" + err.message;
      document.body.dataset.state = "error";
    }
  }

  function renderChannels(report, interval) {
    const body = $("channels-table").querySelector("tbody");
    body.innerHTML = "";
    report.items.forEach((c) => {
      const tr = document.createElement("tr");
      tr.dataset.channel = c.channel;
      [CHANNELS[c.channel] || c.channel, Hotline.num(c.contacts), Hotline.num(c.self_service),
       Hotline.num(c.answered), Hotline.num(c.other), Hotline.pct(c.self_service_rate),
       Hotline.num(c.tickets), Hotline.pct(c.reply_on_time_rate),
       c.channel === "sms" ? Hotline.num(c.texts_sent) : "—",
       c.channel === "sms" ? Hotline.pct(c.delivery_rate) : "—"].forEach((v) => {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    const starts = [...new Set(report.series.map((r) => r.start))].sort();
    const count = (start, channel) => {
      const row = report.series.find((r) => r.start === start && r.channel === channel);
      return row ? row.contacts : 0;
    };
    charts.media.setOption({
      title: title("各渠道联系量"), tooltip: { trigger: "axis" },
      legend: { top: 6, right: 10, data: Object.values(CHANNELS) },
      grid: { left: 50, right: 20, top: 45, bottom: 30 },
      xAxis: { type: "category", data: starts.map((s) => label(s, interval)) },
      yAxis: { type: "value" },
      series: Object.entries(CHANNELS).map(([k, name]) => ({
        name, type: "bar", stack: "m", data: starts.map((s) => count(s, k)) })) }, true);
  }

  function render(summary, faqs, nodes, queues, interval) {
    const t = summary.total;
    $("k-contacts-label").textContent = summary.channel === "phone" ? "来电总量" : "联系总量";
    $("k-contacts").textContent = Hotline.num(t.contacts);
    $("k-auto").textContent = Hotline.num(t.automatic_voice);
    $("k-manual").textContent = Hotline.num(t.manual);
    $("k-containment").textContent = Hotline.pct(t.ivr_containment);
    $("k-sl").textContent = Hotline.pct(t.service_level);
    $("k-answer").textContent = Hotline.pct(t.answer_rate);
    $("k-asa").textContent = Hotline.secs(t.asa);
    $("k-aht").textContent = Hotline.secs(t.aht);
    $("k-csat").textContent = Hotline.pct(t.csat);
    const x = summary.series.map((r) => label(r.start, interval));
    charts.trend.setOption({
      title: title("服务方式趋势"), tooltip: { trigger: "axis" },
      legend: { top: 6, right: 10, data: ["自动语音", "人工", "其他"] },
      grid: { left: 50, right: 20, top: 45, bottom: 30 },
      xAxis: { type: "category", data: x }, yAxis: { type: "value" },
      series: [
        { name: "自动语音", type: "bar", stack: "c", data: summary.series.map((r) => r.automatic_voice) },
        { name: "人工", type: "bar", stack: "c", data: summary.series.map((r) => r.manual) },
        { name: "其他", type: "bar", stack: "c", data: summary.series.map((r) => r.other) },
      ] }, true);
    charts.channel.setOption({
      title: title("服务方式构成"), tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      series: [{ type: "pie", radius: ["35%", "65%"], top: 20, label: { formatter: "{b}\n{d}%" },
        data: [{ name: "自动语音", value: t.automatic_voice }, { name: "人工", value: t.manual },
               { name: "其他", value: t.other }] }] }, true);
    const pctData = (key) => summary.series.map((r) => r[key] === null ? null : +(r[key] * 100).toFixed(1));
    charts.sl.setOption({
      title: title("服务水平与放弃率（%）"), tooltip: { trigger: "axis" },
      legend: { top: 6, right: 10, data: ["服务水平", "放弃率"] },
      grid: { left: 50, right: 20, top: 45, bottom: 30 },
      xAxis: { type: "category", data: x }, yAxis: { type: "value", max: 100 },
      series: [{ name: "服务水平", type: "line", connectNulls: true, data: pctData("service_level") },
               { name: "放弃率", type: "line", connectNulls: true, data: pctData("abandon_rate") }] }, true);
    const topFaq = faqs.items.slice(0, 10).reverse();
    const faqWords = named(topFaq, "faq_id", "question");
    charts.faq.setOption({
      title: title("热点问题 TOP10（播放次数）"),
      tooltip: { trigger: "axis", formatter: axisTip(faqWords) },
      grid: { left: 250, right: 30, top: 40, bottom: 20 },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: faqWords.map((f) => short(f.words, 18)) },
      series: [{ name: "播放", type: "bar", data: topFaq.map((f) => f.played) },
               { name: "转人工", type: "bar", data: topFaq.map((f) => f.escalated) }] }, true);
    const topNodes = nodes.items.slice(0, 10);
    const nodeWords = named(topNodes, "node", "label");
    charts.nodes.setOption({
      title: title("菜单节点流失"), tooltip: { trigger: "axis", formatter: axisTip(nodeWords) },
      legend: { top: 6, right: 10, data: ["进入", "挂机流失"] },
      grid: { left: 50, right: 20, top: 45, bottom: 60 },
      xAxis: { type: "category", data: nodeWords.map((n) => short(n.words, 8)),
               axisLabel: { rotate: 30 } },
      yAxis: { type: "value" },
      series: [{ name: "进入", type: "bar", data: topNodes.map((n) => n.entered) },
               { name: "挂机流失", type: "bar", data: topNodes.map((n) => n.dropped) }] }, true);
    const queueWords = named(queues.queues, "queue", "title");
    charts.queues.setOption({
      title: title("各队列接通与放弃"), tooltip: { trigger: "axis", formatter: axisTip(queueWords) },
      legend: { top: 6, right: 10, data: ["接通", "放弃"] },
      grid: { left: 50, right: 20, top: 45, bottom: 30 },
      xAxis: { type: "category", data: queueWords.map((q) => q.words) }, yAxis: { type: "value" },
      series: [{ name: "接通", type: "bar", data: queues.queues.map((q) => q.answered) },
               { name: "放弃", type: "bar", data: queues.queues.map((q) => q.abandoned) }] }, true);
  }

  async function download(format) {
    try {
      const response = await Hotline.api("/api/v1/stats/export",
        { ...params(), channel: $("channel").value, format });
      const blob = await response.blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "12366-统计-" + (CHANNELS[$("channel").value] || "") + "-" + params().from + "-" + params().to + "." + format;
      a.click();
    } catch (err) { $("error").textContent = "导出失败：" + err.message; }
  }

  $("load").addEventListener("click", load);
  $("csv").addEventListener("click", () => download("csv"));
  $("xlsx").addEventListener("click", () => download("xlsx"));
  Hotline.setupLogin(load);
  load();
})();
