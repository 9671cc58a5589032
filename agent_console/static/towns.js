// The district's towns and villages (GET /api/towns), for the caller's picker and for
// showing a town's name on the desk. Codes never reach a screen.
let places = null;

export async function loadPlaces() {
  if (places) return places;
  places = new Map();
  try {
    const response = await fetch("/api/towns", { headers: { Accept: "application/json" } });
    if (!response.ok) return places;
    const { districts } = await response.json();
    const walk = (node, parent) => {
      places.set(node.code, { name: node.name, level: node.level, parent });
      for (const child of node.children || []) walk(child, node);
    };
    for (const district of districts || []) walk(district, null);
  } catch {
    // No list: the picker stays with its one "not given" choice.
  }
  return places;
}

// "东坝镇 东坝村" for a village, the town's name for a town; null if unknown.
export function placeName(code) {
  const place = places && places.get(code);
  if (!place) return null;
  if (place.level === "village" && place.parent) return `${place.parent.name} ${place.name}`;
  return place.name;
}

// Fill a <select> with every town and, under it, its villages.
export async function fillTownPicker(select) {
  await loadPlaces();
  for (const [code, place] of places) {
    if (place.level !== "town") continue;
    const group = document.createElement("optgroup");
    group.label = place.name;
    const town = new Option(place.name, code);
    group.append(town);
    for (const [childCode, child] of places) {
      if (child.parent && child.parent.code === code) {
        group.append(new Option(`${place.name} ${child.name}`, childCode));
      }
    }
    select.append(group);
  }
}
