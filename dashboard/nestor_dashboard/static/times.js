// Timestamps arrive as UTC ISO strings; show them in the reader's time zone.
function localTimes(root = document) {
  for (const el of root.querySelectorAll(".time[data-iso]")) {
    if (el.dataset.iso) el.textContent = new Date(el.dataset.iso).toLocaleString();
  }
}
localTimes();

// A list page (studies, executors) keeps itself current: its table's body is fetched again every few
// seconds, rendered by the same template, and swapped in; nothing else on the page (filters, scroll) moves.
const live = document.querySelector("table[data-refresh]");
if (live) {
  const every = 1000 * Number(live.dataset.refresh);
  const refresh = async () => {
    if (!document.hidden) {
      try {
        const html = await (await fetch(location.href, {headers: {"Accept": "text/html"}})).text();
        const fresh = new DOMParser().parseFromString(html, "text/html").querySelector(`#${live.id} tbody`);
        if (fresh) {
          localTimes(fresh);
          live.tBodies[0].replaceWith(fresh);
          document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        }
      } catch (e) {
        // The dashboard is restarting or the network blinked: the next round tries again.
      }
    }
    setTimeout(refresh, every);
  };
  setTimeout(refresh, every);
}
