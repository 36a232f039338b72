// 12366 坐席工作台: the consultative transfer may consult one ready agent by name
// (docs/console.md "Consulting one named agent"). Adds the agents now 就绪
// (GET /api/v1/agents/ready) to console-xfer.js's select, under 就绪坐席, each option with
// data-agent; the queues stay first, 专家坐席 the default. Uses console.js's api() and $.
"use strict";

(() => {
  const select = $("xfer-queue");
  const group = document.createElement("optgroup");
  group.id = "xfer-agents";
  group.label = "就绪坐席";
  select.appendChild(group);

  async function refresh() {
    let agents;
    try {
      agents = await api("/agents/ready");
    } catch (_error) {
      return;  // the queues remain
    }
    const picked = select.selectedOptions[0];
    const keep = picked && picked.dataset.agent;
    group.replaceChildren();
    for (const a of agents) {
      const option = document.createElement("option");
      option.value = `agent:${a.username}`;
      option.dataset.agent = a.username;
      option.textContent = `${a.display_name || a.username}（${a.username}）`;
      option.selected = a.username === keep;
      group.appendChild(option);
    }
    // the queues are filled once: keep the agents after them
    select.appendChild(group);
  }

  // whenever the agent may consult: on a call, and each time the list is opened
  select.addEventListener("focus", refresh);
  new MutationObserver(() => {
    if ($("state-label").dataset.state === "on_call") refresh();
  }).observe($("state-label"), { attributes: true, attributeFilter: ["data-state"] });
})();
