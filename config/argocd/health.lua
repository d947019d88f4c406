-- Argo CD health check for banking.finx-operator.io/BankConnection.
-- Install it under resource.customizations.health.banking.finx-operator.io_BankConnection in
-- argocd-cm (see docs/operations.md). It reads the same conditions kstatus reads.
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil or status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "The operator has not observed the latest spec yet."
  return hs
end
local conds = {}
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    conds[c.type] = c
  end
end
local function isTrue(t)
  return conds[t] ~= nil and conds[t].status == "True"
end
local function describe(c)
  return c.reason .. ": " .. (c.message or "")
end
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = describe(conds["Stalled"])
  return hs
end
if isTrue("Ready") then
  hs.status = "Healthy"
  hs.message = conds["Ready"].message
  return hs
end
-- Suspended in Argo CD's sense: nothing is wrong, and progress waits on something outside the
-- cluster (spec.suspend, or the end user who has to open the widget link).
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the operator makes no finX calls."
  return hs
end
if isTrue("Reconciling") and conds["Reconciling"].reason == "AwaitingUser" then
  hs.status = "Suspended"
  hs.message = describe(conds["Reconciling"])
  return hs
end
hs.status = "Progressing"
if isTrue("Reconciling") then
  hs.message = describe(conds["Reconciling"])
elseif conds["Ready"] ~= nil then
  hs.message = describe(conds["Ready"])
else
  hs.message = "Waiting for the operator."
end
return hs
