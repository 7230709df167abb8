// Sort a table by a clicked header (numbers by data-sort, else the text; empty cells last); the image browser's
// previous / next, "every image" and job checkboxes. Without the script the page shows everything, unsorted.
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th.sortable').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var up = th.getAttribute('aria-sort') !== 'ascending', number = th.dataset.type === 'number';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
      var key = function (row) {
        var c = row.cells[col], v = c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim();
        return number ? parseFloat(v) : v.toLowerCase();
      };
      var rows = Array.from(table.tBodies[0].rows), sign = up ? 1 : -1;
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), bx = number ? isNaN(x) : x === '', by = number ? isNaN(y) : y === '';
        if (bx || by) { return bx - by; }
        return sign * (x < y ? -1 : x > y ? 1 : 0);
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
    });
  });
});
(function () {
  var rows = Array.from(document.querySelectorAll('#images .image-row'));
  if (!rows.length) { return; }
  var at = 0, all = document.getElementById('show-all'), where = document.getElementById('image-position');
  var show = function () {
    rows.forEach(function (r, i) { r.hidden = !all.checked && i !== at; });
    where.textContent = all.checked ? rows.length + ' images' : (at + 1) + ' / ' + rows.length;
  };
  var step = function (d) { at = (at + d + rows.length) % rows.length; show(); };
  document.getElementById('prev').addEventListener('click', function () { step(-1); });
  document.getElementById('next').addEventListener('click', function () { step(1); });
  all.addEventListener('change', show);
  document.querySelectorAll('input.job-toggle').forEach(function (box) {
    var apply = function () {
      document.querySelectorAll('#images figure.prediction').forEach(function (f) {
        if (f.dataset.job === box.dataset.job) { f.hidden = !box.checked; }
      });
    };
    box.addEventListener('change', apply);
    apply();
  });
  show();
})();
