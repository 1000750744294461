"""The pure core: AdmissionReview in and out, Argo's joins, the policy and its verdicts; no I/O."""
