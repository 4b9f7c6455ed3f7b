/**
 * Send one request to the endpoint from the sidebar: a field per input (filled from the
 * example), the token (filled when this page knows it), and the answer with its status and
 * latency. The request goes through the Jupyter server (POST …/invoke), which calls the
 * endpoint as any client would, token included.
 */
import React, { useState } from 'react';

import { JSONValue } from '../api';
import { IDeployment, IInvokeResult, deployApi } from '../deployApi';
import { DeploymentsModel } from '../deployments';
import { fieldText, fieldValue, formatMs } from './deployFormat';
import { errorMessage } from './format';

export interface ITryRequestFormProps {
  model: DeploymentsModel;
  deployment: IDeployment;
}

function initialTexts(deployment: IDeployment): { [field: string]: string } {
  return Object.fromEntries(
    deployment.fields.map(field => [field.name, fieldText(field, deployment.example[field.name])])
  );
}

export function TryRequestForm(props: ITryRequestFormProps): React.ReactElement {
  const { model, deployment } = props;
  const { name, fields } = deployment;
  const [texts, setTexts] = useState(() => initialTexts(deployment));
  const [problems, setProblems] = useState<{ [field: string]: string }>({});
  const [result, setResult] = useState<IInvokeResult | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const token = model.token(name) ?? '';

  const send = (): void => {
    const payload: { [field: string]: JSONValue } = {};
    const found: { [field: string]: string } = {};
    for (const field of fields) {
      const parsed = fieldValue(field, texts[field.name] ?? '');
      if (parsed.ok) {
        payload[field.name] = parsed.value;
      } else {
        found[field.name] = parsed.message;
      }
    }
    setProblems(found);
    if (Object.keys(found).length > 0) {
      return;
    }
    setSending(true);
    setFailure(null);
    deployApi
      .invoke(name, token, payload)
      .then(answer => {
        setResult(answer);
        model.refresh();
      })
      .catch(error => {
        setResult(null);
        setFailure(errorMessage(error));
      })
      .finally(() => setSending(false));
  };

  const ok = result !== null && result.status >= 200 && result.status < 300;
  return (
    <form
      className="jp-mlops-try-form"
      data-testid="mlops-try-form"
      onSubmit={event => {
        event.preventDefault();
        send();
      }}
    >
      {fields.length === 0 && (
        <p className="jp-mlops-muted">
          {deployment.function} reads no parameter: send {'{}'}.
        </p>
      )}
      {fields.map(field => {
        const id = `jp-mlops-try-${name}-${field.name}`;
        return (
          <div key={field.name} className="jp-mlops-param">
            <label className="jp-mlops-param-label" htmlFor={id} title={field.help || undefined}>
              <span className="jp-mlops-param-name">{field.name}</span>
              <span className="jp-mlops-param-type">{field.type}</span>
              {field.help ? <span className="jp-mlops-param-help">{field.help}</span> : null}
            </label>
            <input
              id={id}
              className="jp-mod-styled"
              data-testid="mlops-try-field"
              data-field={field.name}
              type="text"
              spellCheck={false}
              value={texts[field.name] ?? ''}
              aria-invalid={field.name in problems}
              onChange={event => {
                const value = event.target.value;
                setTexts(old => ({ ...old, [field.name]: value }));
              }}
            />
            {problems[field.name] ? (
              <div className="jp-mlops-param-error" data-testid="mlops-try-field-error">
                {problems[field.name]}
              </div>
            ) : null}
          </div>
        );
      })}
      <div className="jp-mlops-param">
        <label className="jp-mlops-param-label" htmlFor={`jp-mlops-try-${name}-token`}>
          <span className="jp-mlops-param-name">token</span>
          <span className="jp-mlops-param-help">
            {token ? 'kept in this page until it reloads' : 'paste the token of this deployment'}
          </span>
        </label>
        <input
          id={`jp-mlops-try-${name}-token`}
          className="jp-mod-styled"
          data-testid="mlops-try-token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={event => model.rememberToken(name, event.target.value)}
        />
      </div>
      <div className="jp-mlops-actions">
        <button
          type="submit"
          className="jp-mlops-button jp-mod-accept"
          data-testid="mlops-try-send"
          disabled={sending || token === ''}
          title={token === '' ? 'The endpoint needs its token' : `POST to ${deployment.url}/invoke`}
        >
          {sending ? 'Sending…' : 'Send request'}
        </button>
        <button
          type="button"
          className="jp-mlops-link-button"
          onClick={() => {
            setTexts(initialTexts(deployment));
            setProblems({});
          }}
          title="Back to the example's values"
        >
          reset
        </button>
      </div>
      {failure !== null && (
        <div className="jp-mlops-error" role="alert" data-testid="mlops-try-error">
          {failure}
        </div>
      )}
      {result !== null && (
        <div
          className={`jp-mlops-try-result${ok ? '' : ' jp-mod-failed'}`}
          data-testid="mlops-try-result"
          data-status={result.status}
        >
          <div className="jp-mlops-try-meta">
            <span className="jp-mlops-try-status">HTTP {result.status}</span>
            <span data-testid="mlops-try-latency" data-value={result.latency_ms}>
              {formatMs(result.latency_ms)}
            </span>
          </div>
          <pre className="jp-mlops-try-body" data-testid="mlops-try-body">
            {JSON.stringify(result.body, null, 2)}
          </pre>
        </div>
      )}
    </form>
  );
}
