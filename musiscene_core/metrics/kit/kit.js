// Listening test: plays each trial's versions in the kit's (anonymised, shuffled) order, keeps the ratings in the
// browser (localStorage, so a reload loses nothing) and writes them as a CSV the rater downloads. No network.
"use strict";

function csvField(value) {
  const text = String(value === undefined || value === null ? "" : value);
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

// rows of the ratings CSV: one per rated version
function ratingsCsv(kit, rater, ratings) {
  const lines = ["kit_id,rater,trial,version,rating,scale_max,question"];
  for (const trial of kit.trials) {
    for (const version of trial.versions) {
      const rating = ratings[trial.id + "/" + version.id];
      if (rating === undefined) continue;
      lines.push([kit.kit_id, rater, trial.id, version.id, rating, kit.scale, kit.question].map(csvField).join(","));
    }
  }
  return lines.join("\n") + "\n";
}

if (typeof module !== "undefined") {
  module.exports = { ratingsCsv, csvField };
}

if (typeof document !== "undefined") {
  const kit = JSON.parse(document.getElementById("kit-data").textContent);
  const storeKey = "musiscene-kit-" + kit.kit_id;
  const ratings = JSON.parse(localStorage.getItem(storeKey) || "{}");
  const save = () => localStorage.setItem(storeKey, JSON.stringify(ratings));
  document.getElementById("question").textContent = kit.question;
  const root = document.getElementById("trials");
  kit.trials.forEach((trial, t) => {
    const section = document.createElement("section");
    const title = document.createElement("h2");
    title.textContent = "Clip " + (t + 1) + " of " + kit.trials.length;
    section.appendChild(title);
    for (const version of trial.versions) {
      const box = document.createElement("div");
      box.className = "version";
      const label = document.createElement("h3");
      label.textContent = "Version " + version.label;
      const player = document.createElement(version.kind);
      player.controls = true;
      player.preload = "none";
      player.src = version.src;
      const scale = document.createElement("div");
      scale.className = "scale";
      for (let value = 1; value <= kit.scale; value++) {
        const option = document.createElement("label");
        const input = document.createElement("input");
        input.type = "radio";
        input.name = trial.id + "/" + version.id;
        input.value = value;
        input.checked = ratings[input.name] === value;
        input.addEventListener("change", () => { ratings[input.name] = value; save(); refresh(); });
        option.append(input, " " + value);
        scale.appendChild(option);
      }
      box.append(label, player, scale);
      section.appendChild(box);
    }
    root.appendChild(section);
  });
  const total = kit.trials.reduce((n, trial) => n + trial.versions.length, 0);
  function refresh() {
    document.getElementById("progress").textContent = Object.keys(ratings).length + " of " + total + " rated";
  }
  refresh();
  document.getElementById("download").addEventListener("click", () => {
    const rater = document.getElementById("rater").value.trim() || "anonymous";
    const blob = new Blob([ratingsCsv(kit, rater, ratings)], { type: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "ratings-" + kit.kit_id + "-" + rater.replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
}
