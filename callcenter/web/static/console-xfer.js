// 12366 坐席工作台: consultative transfer and three-way call with the expert seat, on the call
// card (docs/console.md "Consultative transfer"). Uses console.js's api(), $, text, state and
// the agent's messages through the "console-message" event console.js dispatches.
"use strict";

(() => {
  const card = $("call-card");
  const section = document.createElement("div");
  section.id = "consult-panel";
  section.innerHTML = `
    <h3>咨询转接</h3>
    <select id="consult-queue" aria-label="咨询队列"></select>
    <button id="btn-consult" type="button" disabled>咨询转接</button>
    <button id="btn-consult-complete" type="button" disabled>完成转接</button>
    <button id="btn-consult-conference" type="button" disabled>三方通话</button>
    <button id="btn-consult-cancel" type="button" disabled>取消</button>
    <p id="consult-status" class="muted" role="status"></p>
    <div id="consult-notes" hidden>
      <h3>转来坐席的小结</h3>
      <ul id="consult-notes-list"></ul>
    </div>`;
  $("transfer-status").after(section);

  let step = null;  // the consultation's step while one runs (calling, talking)
  let onCallNow = false;

  function render() {
    $("btn-consult").disabled = !onCallNow || step !== null;
    $("btn-consult-cancel").disabled = step === null;
    $("btn-consult-complete").disabled = step !== "talking";
    $("btn-consult-conference").disabled = step !== "talking";
    card.dataset.consult = step || "none";
  }

  function fillQueues() {
    const select = $("consult-queue");
    if (select.options.length || !state.lookups || !state.lookups.queues) return;
    for (const q of state.lookups.queues) {
      const option = document.createElement("option");
      option.value = q.name;
      option.textContent = q.title;
      option.selected = q.name === "experts";
      select.appendChild(option);
    }
  }

  async function request(path, json) {
    try {
      const done = await api(path, json === undefined ? { method: "POST" } : { json });
      if (done.step === "calling" || done.step === "talking") step = done.step;
      else step = null;
    } catch (error) {
      text("consult-status", error.message);
    }
    render();
  }

  $("btn-consult").addEventListener("click", () => {
    text("consult-status", "");
    request("/agents/me/consult", { queue: $("consult-queue").value || null,
                                    notes: $("notes").value || null });
  });
  $("btn-consult-complete").addEventListener("click",
    () => request("/agents/me/consult/complete"));
  $("btn-consult-conference").addEventListener("click",
    () => request("/agents/me/consult/conference"));
  $("btn-consult-cancel").addEventListener("click", () => request("/agents/me/consult/cancel"));

  function showNotes(notes) {
    const list = $("consult-notes-list");
    list.replaceChildren();
    const others = (notes || []).filter((n) => n.username !== state.me.username);
    for (const n of others) {
      const item = document.createElement("li");
      item.textContent = `${n.username}：${n.notes}`;
      list.appendChild(item);
    }
    $("consult-notes").hidden = others.length === 0;
  }

  document.addEventListener("console-message", (event) => {
    const { topic, payload } = event.detail;
    if (!state.me || topic !== `calls.${state.me.username}`) return;
    fillQueues();
    if (payload.type === "ringing") {
      step = null;
      text("consult-status", "");
      showNotes(payload.notes);
    } else if (payload.type === "consult") {
      text("consult-status", payload.message);
      // the first agent steers the consultation; the expert only reads how it goes
      if (payload.agent === state.me.username) {
        step = payload.step === "calling" || payload.step === "talking" ? payload.step : null;
      }
    } else if (payload.type === "completed") {
      step = null;
    }
    render();
  });

  // the agent's state as console.js shows it: on a call or not
  new MutationObserver(() => {
    onCallNow = $("state-label").dataset.state === "on_call";
    fillQueues();
    render();
  }).observe($("state-label"), { attributes: true, attributeFilter: ["data-state"] });
})();
