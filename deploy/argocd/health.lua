-- Argo CD health of cache-operator objects, from the kstatus conditions the operator writes.
hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  local generation = obj.metadata.generation
  local observed = obj.status.observedGeneration
  if generation ~= nil and (observed == nil or observed < generation) then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to act on generation " .. generation
    return hs
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Stalled" and c.status == "True" then
      hs.status = "Degraded"
      hs.message = c.reason .. ": " .. (c.message or "")
      return hs
    end
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      if c.status == "True" then
        hs.status = "Healthy"
      else
        hs.status = "Progressing"
      end
      hs.message = c.reason .. ": " .. (c.message or "")
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the operator"
return hs
