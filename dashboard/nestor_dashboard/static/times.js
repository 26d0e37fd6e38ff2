// Timestamps arrive as UTC ISO strings; show them in the reader's time zone.
for (const el of document.querySelectorAll(".time[data-iso]")) {
  if (el.dataset.iso) el.textContent = new Date(el.dataset.iso).toLocaleString();
}
