// 12366 坐席工作台: the call card in words (issue 16 item 7). What the caller heard and pressed,
// step by step (the menu's Chinese node titles, the keys, the FAQ question heard), and the
// previous contacts on every channel. console.js calls these when the phone rings.
"use strict";

const CardWords = (() => {
  const CHANNELS = { phone: "电话", sms: "短信", web: "网上咨询" };

  // 主菜单（按 1）→ 增值税咨询（按 1）→ 增值税法施行时间（听到：增值税法什么时候开始施行？；按 转人工）
  function path(event) {
    const steps = event.ivr_steps || [];
    if (!steps.length) {  // a card from before the steps: the titles alone
      const titles = event.ivr_path_labels || event.ivr_path || [];
      return titles.length ? titles.join(" → ") : "（未经过语音导航）";
    }
    return steps.map((step) => {
      const parts = [];
      if (step.heard && step.heard.length) parts.push("听到：" + step.heard.join("、"));
      if (step.keys && step.keys.length) parts.push("按 " + step.keys.join("、"));
      return step.label + (parts.length ? "（" + parts.join("；") + "）" : "");
    }).join(" → ");
  }

  // 2026/11/27 10:00:00 短信 13900000002 自助服务 …
  function previous(contact, outcomeTitles) {
    const when = new Date(contact.started_at).toLocaleString("zh-CN");
    const channel = CHANNELS[contact.medium] || CHANNELS.phone;
    const outcome = outcomeTitles[contact.outcome] || contact.outcome || "进行中";
    return [when, channel, contact.caller || "", outcome, contact.agent || ""]
      .filter((part) => part !== "").join(" ");
  }

  return { path, previous, CHANNELS };
})();
